import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loudWarning, QUIET_LOAD_BEFORE, QUIET_OTHERS_CORES, watchConditions, whyNotQuiet } from '../../../scripts/bench/conditions.ts';

describe('bench conditions', () => {
  it('a run is quiet only with a low load before it and (almost) no CPU taken by others', () => {
    expect(whyNotQuiet(0.2, 0.01, 2)).toEqual([]);
    expect(whyNotQuiet(QUIET_LOAD_BEFORE + 0.01, 0, 2)).toEqual([expect.stringMatching(/^1-min load 0\.51 before the run/)]);
    expect(whyNotQuiet(0, QUIET_OTHERS_CORES + 0.5, 2)).toEqual([expect.stringMatching(/^other processes used 0\.60 of 2 cores/)]);
    expect(whyNotQuiet(3, 1.8, 2)).toHaveLength(2);
    // Off Linux the share is unknown: judged on the load alone.
    expect(whyNotQuiet(0.1, null, 2)).toEqual([]);
  });

  it('measures the CPU of processes outside its own tree (our own busy loop does not count)', () => {
    const w = watchConditions();
    const t = performance.now();
    let x = 0;
    while (performance.now() - t < 300) x += Math.sqrt(x + 1);
    const c = w.end();
    expect(x).toBeGreaterThan(0);
    expect(c.seconds).toBeGreaterThan(0.29);
    expect(c.load1).toHaveLength(2);
    if (process.platform === 'linux') {
      expect(c.othersCores).not.toBeNull();
      expect(c.othersCores!).toBeGreaterThanOrEqual(0);
      // Others can use at most the whole machine (jiffies are 10 ms, so allow one tick of rounding).
      expect(c.othersCores!).toBeLessThanOrEqual(cpus().length + 0.01 / c.seconds);
    }
    expect(c.quiet).toBe(c.notQuiet.length === 0);
  });

  it('says loudly why numbers are not results', () => {
    const banner = loudWarning('gpt2-int8-s1', {
      load1: [2, 2],
      othersCores: 1,
      seconds: 10,
      quiet: false,
      notQuiet: ['1-min load 2.00 before the run'],
    });
    expect(banner).toContain('NOT A QUIET MACHINE (gpt2-int8-s1)');
    expect(banner).toContain('1-min load 2.00 before the run');
  });
});

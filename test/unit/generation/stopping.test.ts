import { describe, expect, it } from 'vitest';
import { StopSequences } from '../../../worker/generation/stopping.ts';
import { isWellFormed } from './fakes.ts';

/** Every split of `text` into deltas (2^(chars-1): keep texts short) at UTF-16 boundaries that keep surrogate pairs whole. */
function* splits(text: string): Generator<string[]> {
  const chars = [...text];
  const n = chars.length;
  for (let mask = 0; mask < 1 << Math.max(0, n - 1); mask++) {
    const parts: string[] = [];
    let cur = chars[0] ?? '';
    for (let i = 1; i < n; i++) {
      if (mask & (1 << (i - 1))) {
        parts.push(cur);
        cur = '';
      }
      cur += chars[i]!;
    }
    parts.push(cur);
    yield parts;
  }
}

/** Feeds deltas; checks the client-visible text is always a prefix of the final text. */
function run(stops: string[], parts: string[]): { out: string; stopped: boolean; full: string; stoppedAt: number } {
  const s = new StopSequences(stops);
  let out = '';
  for (const [i, p] of parts.entries()) {
    const { emit, stopped } = s.push(p);
    out += emit;
    expect(s.fullText.startsWith(out)).toBe(true);
    if (stopped) return { out, stopped, full: s.fullText, stoppedAt: i };
  }
  out += s.flush();
  return { out, stopped: false, full: s.fullText, stoppedAt: -1 };
}

describe('StopSequences', () => {
  const cases: { text: string; stops: string[]; expected: string; stopped: boolean }[] = [
    { text: 'Hi, world!', stops: ['world'], expected: 'Hi, ', stopped: true },
    { text: 'abcabd', stops: ['abd'], expected: 'abc', stopped: true }, // a false start ('ab' then 'c')
    { text: 'xx\n\nyy', stops: ['\n\n'], expected: 'xx', stopped: true },
    { text: 'one two', stops: ['three'], expected: 'one two', stopped: false }, // held text is flushed
    { text: 'aab', stops: ['ab', 'aab'], expected: '', stopped: true }, // earliest start wins
    { text: 'x😀y', stops: ['😀'], expected: 'x', stopped: true },
    { text: 'no stop', stops: [], expected: 'no stop', stopped: false },
    { text: 'end: ST', stops: ['STOP'], expected: 'end: ST', stopped: false },
    { text: 'a', stops: [''], expected: 'a', stopped: false }, // empty stop strings are ignored
  ];

  for (const c of cases) {
    it(`stops ${JSON.stringify(c.stops)} in ${JSON.stringify(c.text)} under every split`, () => {
      for (const parts of splits(c.text)) {
        const r = run(c.stops, parts);
        expect(r.out).toBe(c.expected);
        expect(r.full).toBe(c.expected);
        expect(r.stopped).toBe(c.stopped);
      }
    });
  }

  it('holds back a possible stop prefix and releases it once ruled out', () => {
    const s = new StopSequences(['</s>']);
    expect(s.push('hi <')).toEqual({ emit: 'hi ', stopped: false });
    expect(s.push('/')).toEqual({ emit: '', stopped: false });
    expect(s.push('p>')).toEqual({ emit: '</p>', stopped: false });
    expect(s.push('</s')).toEqual({ emit: '', stopped: false });
    expect(s.push('>tail')).toEqual({ emit: '', stopped: true });
    expect(s.fullText).toBe('hi </p>');
  });

  it('reports the stop in the delta that completes it', () => {
    const r = run(['STOP'], ['go ', 'ST', 'O', 'P', ' more']);
    expect(r).toEqual({ out: 'go ', stopped: true, full: 'go ', stoppedAt: 3 });
  });

  it('never splits a surrogate pair when holding back', () => {
    const s = new StopSequences(['\uDE00x']); // a (malformed) stop starting with a low surrogate
    const { emit } = s.push('a😀'); // '😀' = \uD83D\uDE00
    expect(isWellFormed(emit)).toBe(true);
    expect(emit + s.flush()).toBe('a😀');
  });
});

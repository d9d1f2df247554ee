import { describe, expect, it } from 'vitest';
import { planWindows, scoredCount, WindowPlanError } from '../../../scripts/eval/windows.ts';

/** How many times each position of [0, n) is scored by the plan. */
function coverage(n: number, context: number, stride: number): number[] {
  const seen = new Array<number>(n).fill(0);
  for (const w of planWindows(n, context, stride)) {
    expect(w.end - w.begin).toBeLessThanOrEqual(context);
    expect(w.scoreFrom).toBeGreaterThan(w.begin);
    expect(w.scoreFrom).toBeLessThan(w.end);
    for (let i = w.scoreFrom; i < w.end; i++) seen[i]! += 1;
  }
  return seen;
}

describe('planWindows', () => {
  it('text shorter than one window: one window, every token but the first scored', () => {
    expect(planWindows(5, 8, 4)).toEqual([{ begin: 0, end: 5, scoreFrom: 1 }]);
  });

  it('text exactly one window long: one window, no second window', () => {
    expect(planWindows(8, 8, 4)).toEqual([{ begin: 0, end: 8, scoreFrom: 1 }]);
  });

  it('length an exact multiple of the stride: last window ends at n, no empty tail window', () => {
    expect(planWindows(12, 8, 4)).toEqual([
      { begin: 0, end: 8, scoreFrom: 1 },
      { begin: 4, end: 12, scoreFrom: 8 },
    ]);
    expect(planWindows(16, 8, 4)).toEqual([
      { begin: 0, end: 8, scoreFrom: 1 },
      { begin: 4, end: 12, scoreFrom: 8 },
      { begin: 8, end: 16, scoreFrom: 12 },
    ]);
  });

  it('length not a multiple of the stride: the last window is full-size and scores the remainder', () => {
    expect(planWindows(10, 8, 4)).toEqual([
      { begin: 0, end: 8, scoreFrom: 1 },
      { begin: 4, end: 10, scoreFrom: 8 },
    ]);
  });

  it('stride < context scores every token but the first exactly once', () => {
    for (const [n, c, s] of [
      [1000, 64, 32],
      [129, 64, 63],
      [77, 10, 3],
      [64, 64, 1],
    ] as const) {
      const cov = coverage(n, c, s);
      expect(cov[0]).toBe(0);
      expect(cov.slice(1).every((k) => k === 1)).toBe(true);
      expect(scoredCount(planWindows(n, c, s))).toBe(n - 1);
    }
  });

  it('stride = context: disjoint windows, the first token of each window is not scored (HF semantics)', () => {
    expect(planWindows(20, 8, 8)).toEqual([
      { begin: 0, end: 8, scoreFrom: 1 },
      { begin: 8, end: 16, scoreFrom: 9 },
      { begin: 16, end: 20, scoreFrom: 17 },
    ]);
    expect(scoredCount(planWindows(20, 8, 8))).toBe(17);
    // A lone last token would have no context in its window: no request is planned for it.
    expect(planWindows(17, 8, 8)).toEqual([
      { begin: 0, end: 8, scoreFrom: 1 },
      { begin: 8, end: 16, scoreFrom: 9 },
    ]);
  });

  it('stride 1: one window per new token after the first, each with full context', () => {
    const w = planWindows(7, 4, 1);
    expect(w).toEqual([
      { begin: 0, end: 4, scoreFrom: 1 },
      { begin: 1, end: 5, scoreFrom: 4 },
      { begin: 2, end: 6, scoreFrom: 5 },
      { begin: 3, end: 7, scoreFrom: 6 },
    ]);
    expect(scoredCount(w)).toBe(6);
  });

  it('fewer than two tokens: nothing to score', () => {
    expect(planWindows(0, 8, 4)).toEqual([]);
    expect(planWindows(1, 8, 4)).toEqual([]);
  });

  it('rejects a bad stride or context with a code', () => {
    expect(() => planWindows(10, 8, 9)).toThrow(WindowPlanError);
    expect(() => planWindows(10, 8, 0)).toThrow(/stride/);
    expect(() => planWindows(10, 1, 1)).toThrow(/context/);
    expect(() => planWindows(10, 8, 2.5)).toThrow(expect.objectContaining({ code: 'bad_stride' }));
    expect(() => planWindows(10, 0, 1)).toThrow(expect.objectContaining({ code: 'bad_context' }));
  });
});

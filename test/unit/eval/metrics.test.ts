import { describe, expect, it } from 'vitest';
import { addTotals, emptyTotals, MetricsError, summarize, summarizeLambada, windowTotals } from '../../../scripts/eval/metrics.ts';

describe('windowTotals', () => {
  it('counts only positions from scoreFrom, with their bytes', () => {
    const lp = [null, Math.log(0.5), Math.log(0.25), Math.log(0.125)];
    const t = windowTotals(lp, 2, [3, 1, 2, 4]);
    expect(t.tokens).toBe(2);
    expect(t.bytes).toBe(6);
    expect(t.nll).toBeCloseTo(5 * Math.LN2, 12);
  });

  it('rejects a null, NaN or positive logprob in the scored range', () => {
    expect(() => windowTotals([null, null], 1, [1, 1])).toThrow(MetricsError);
    expect(() => windowTotals([null, Number.NaN], 1, [1, 1])).toThrow(/logprob/);
    expect(() => windowTotals([null, 0.5], 1, [1, 1])).toThrow(/logprob/);
    // index 0 is outside the scored range: its null is fine
    expect(windowTotals([null, -1], 1, [1, 1]).nll).toBe(1);
  });
});

describe('summarize', () => {
  it('uniform over 4 choices: ppl 4, 2 bits per token, bits per byte by byte count', () => {
    const t = addTotals(emptyTotals(), { nll: 10 * Math.log(4), tokens: 10, bytes: 40 });
    const r = summarize(t);
    expect(r.perplexity).toBeCloseTo(4, 12);
    expect(r.bitsPerToken).toBeCloseTo(2, 12);
    expect(r.bitsPerByte).toBeCloseTo(0.5, 12);
  });

  it('refuses to divide by zero tokens', () => {
    expect(() => summarize(emptyTotals())).toThrow(/at least 2 tokens/);
  });
});

describe('summarizeLambada', () => {
  it('accuracy and per-example perplexity', () => {
    const r = summarizeLambada({ examples: 4, correct: 3, nll: 4 * Math.log(10), targetTokens: 6 });
    expect(r.accuracy).toBe(0.75);
    expect(r.perplexity).toBeCloseTo(10, 10);
  });
});

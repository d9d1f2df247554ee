/**
 * Sampling's softmax (worker/generation/logits.ts expSum): the kernels' row_max + exp_sum (worker/kernels/
 * softmax.ts) must give expSumJs's bits — max, total, log-sum-exp and every weight — so that where it runs
 * never changes a token or a logprob; and exp32 (the kernels' f32 exp, redone in JS) must stay within its
 * error bound of Math.exp.
 */
import { describe, expect, it } from 'vitest';
import { exp32, expSum, expSumJs, useExpSum } from '../../../worker/generation/logits.ts';
import { kernelExpSum } from '../../../worker/kernels/softmax.ts';
import { softmaxRows } from './calls.ts';
import { freshKernels } from './wasm.ts';

describe('expSum on the kernels', () => {
  const onKernels = kernelExpSum(freshKernels);

  it.each(softmaxRows())('%s: the same bits as expSumJs', (_, row) => {
    const [a, b] = [new Float64Array(row.length).fill(-1), new Float64Array(row.length).fill(-1)];
    expect(onKernels(row, a)).toEqual(expSumJs(row, b));
    expect(a).toEqual(b);
    expect(onKernels(row)).toEqual(expSumJs(row));
  });

  it('is what expSum computes once useExpSum installs it, and expSumJs again after useExpSum(null)', () => {
    const row = softmaxRows()[0]![1];
    let calls = 0;
    useExpSum((r, w) => (calls++, onKernels(r, w)));
    try {
      expect(expSum(row)).toEqual(expSumJs(row));
      expect(calls).toBe(1);
    } finally {
      useExpSum(null);
    }
    expSum(row);
    expect(calls).toBe(1);
  });

  it('sums to the float64 softmax normaliser within 1e-6, with exp(0) = 1 at the max', () => {
    const row = softmaxRows()[0]![1];
    const w = new Float64Array(row.length);
    const { max, total } = onKernels(row, w);
    let ref = 0;
    for (const x of row) ref += Math.exp(x - max);
    expect(Math.abs(total - ref) / ref).toBeLessThan(1e-6);
    expect(w[row.indexOf(max)]).toBe(1);
  });
});

describe('exp32', () => {
  it('is within 3e-7 of Math.exp on [-87.3, 0], 0 below and for -Infinity', () => {
    let worst = 0;
    for (let x = -87.3; x <= 0; x += 0.0007) {
      const xf = Math.fround(x);
      if (xf < Math.fround(-87.3)) continue;
      worst = Math.max(worst, Math.abs(exp32(xf) - Math.exp(xf)) / Math.exp(xf));
    }
    expect(worst).toBeLessThan(3e-7);
    expect(exp32(0)).toBe(1);
    expect(exp32(-88)).toBe(0);
    expect(exp32(-Infinity)).toBe(0);
  });
});

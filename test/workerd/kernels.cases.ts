/**
 * The kernels as workerd runs them: gpt2-kernels.wasm with relaxed SIMD's i8×i7 dot product (Node 20 runs
 * the baseline build instead, so only here is the relaxed instruction itself under test). quant_u7 +
 * linear_u7 and head_u7 must equal the JS redo of their integer math bit for bit — the same check the baseline build
 * passes in Node (test/unit/kernels/dense.test.ts), so the two builds give the same bits. Sampling's softmax on
 * the kernels must equal its JS definition here too (test/unit/kernels/softmax.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { expSumJs } from '../../worker/generation/logits.ts';
import { workerdExpSum, workerdKernels } from '../../worker/kernels/workerd.ts';
import { runHeadU7, runLinearU7, softmaxRows } from '../unit/kernels/calls.ts';
import { headU7Ref, linearRef, randInt8, randn } from '../unit/kernels/reference.ts';

export function kernelCases(): void {
  describe('dense kernels in workerd (relaxed SIMD)', () => {
    it.each([
      [1, 16, 4],
      [2, 64, 8],
      [5, 256, 20],
      [8, 768, 64],
    ])('M=%i K=%i N=%i: linear_u7 equals the JS redo bit for bit, alone and accumulating', (M, K, N) => {
      const k = workerdKernels();
      const x = randn(M * K, 101 + M, 2);
      x[1] = -35; // an outlier
      const w = randInt8(N * K, 102 + K);
      const ws = randn(N, 103, 0.01).map(Math.abs);
      const bias = randn(N, 104, 0.1);
      const base = randn(M * N, 105);
      expect(runLinearU7(k, x, M, K, w, N, ws, bias).out).toEqual(linearRef(x, M, K, w, N, ws, bias));
      expect(runLinearU7(k, x, M, K, w, N, ws, bias, base).out).toEqual(linearRef(x, M, K, w, N, ws, bias, base));
    });

    it.each([
      [1, 7, 32],
      [3, 13, 128],
      [8, 37, 256],
    ])('rows=%i V=%i E=%i: head_u7 equals the JS redo bit for bit', (rows, V, E) => {
      const k = workerdKernels();
      const x = randn(rows * E, 111 + rows);
      const w = randInt8(V * E, 112 + V);
      const scale = randn(V, 113, 0.01).map(Math.abs);
      expect(runHeadU7(k, rows, V, E, x, w, scale).got).toEqual(headU7Ref(x, rows, w, V, E, scale));
    });

    it.each(softmaxRows())("%s: sampling's expSum on the kernels gives expSumJs's bits", (_, row) => {
      const onKernels = workerdExpSum();
      const [a, b] = [new Float64Array(row.length), new Float64Array(row.length)];
      expect(onKernels(row, a)).toEqual(expSumJs(row, b));
      expect(a).toEqual(b);
    });
  });
}

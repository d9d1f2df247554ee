/**
 * The kernels as workerd runs them: gpt2-kernels.wasm with relaxed SIMD's i8×i7 dot product (Node 20 runs
 * the baseline build instead, so only here is the relaxed instruction itself under test). quant_u7 +
 * linear_u7 and head_u7 must equal the JS redo of their integer math bit for bit — the same check the baseline build
 * passes in Node (test/unit/kernels/dense.test.ts), so the two builds give the same bits.
 */
import { describe, expect, it } from 'vitest';
import { interleaveColumns4 } from '../../scripts/convert/quantize.ts';
import { workerdKernels } from '../../worker/kernels/workerd.ts';
import { put, runHeadU7 } from '../unit/kernels/calls.ts';
import { colsums, headU7Ref, linearRef, randInt8, randn } from '../unit/kernels/reference.ts';

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
      const p = {
        x: put(k, x),
        w: put(k, interleaveColumns4(w, N, K)),
        colsum: put(k, colsums(w, N, K)),
        scale: put(k, ws),
        bias: put(k, bias),
        xq: k.alloc(M * K),
        xs: k.alloc(M * 4),
        zp: k.alloc(M * 4),
        out: k.alloc(M * N * 4),
        acc: put(k, base),
      };
      try {
        k.quantU7(p.x, M, K, p.xq, p.xs, p.zp);
        k.linearU7(p, M, K, { ...p, N }, p.out, false);
        k.linearU7(p, M, K, { ...p, N }, p.acc, true);
        expect(k.f32(p.out, M * N).slice()).toEqual(linearRef(x, M, K, w, N, ws, bias));
        expect(k.f32(p.acc, M * N).slice()).toEqual(linearRef(x, M, K, w, N, ws, bias, base));
      } finally {
        Object.values(p).forEach((ptr) => k.free(ptr));
      }
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
  });
}

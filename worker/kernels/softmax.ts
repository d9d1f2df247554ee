/**
 * worker/generation/logits.ts expSum on the kernels (row_max + exp_sum): the row is copied into the kernels'
 * memory, the max and the weights computed in WASM SIMD, the weights copied back when asked for. The same bits
 * as expSumJs (test/unit/kernels/softmax.test.ts); about 3× faster on a 50,257-entry row, which matters once
 * per sequence per step (eight streams sample eight rows a step).
 *
 * `kernels` should be an instance of its own (createKernels): the two row buffers then never sit among a
 * model's weights, and the model's heap is never grown for them.
 */
import type { Kernels } from './kernels.ts';

/** generation/logits.ts ExpSumFn, spelled out here (kernels/ imports nothing outside itself). */
export type RowExpSum = (row: Float32Array, weights?: Float64Array) => { max: number; total: number; lse: number };

export function kernelExpSum(kernels: () => Kernels): RowExpSum {
  let k: Kernels | undefined;
  let capacity = 0;
  let x = 0;
  let w = 0;
  return (row, weights) => {
    k ??= kernels();
    const n = row.length;
    if (n > capacity) {
      if (capacity > 0) [x, w].forEach((p) => k!.free(p));
      [x, w] = [k.alloc(n * 4), k.alloc(n * 8)];
      capacity = n;
    }
    k.f32(x, n).set(row);
    const max = k.rowMax(x, n);
    if (max === -Infinity) return { max, total: 0, lse: -Infinity };
    const total = k.expSum(x, n, max, w);
    if (weights) weights.set(new Float64Array(k.memory.buffer, w, n));
    return { max, total, lse: max + Math.log(total) };
  };
}

/**
 * Kernel calls the tests share, free of Node imports so that the workerd tests can use them too
 * (test/workerd/kernels.cases.ts).
 */
import type { Kernels } from '../../../worker/kernels/kernels.ts';

/** Copies a typed array into a new allocation; returns its pointer. */
export function put(k: Kernels, data: Float32Array | Int8Array | Int32Array): number {
  const ptr = k.alloc(data.byteLength);
  k.bytes(ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return ptr;
}

/** rowSumI8 + quantU7 + headU7 over copies of x [rows, E], w [V, E], scale [V]; frees what it allocated. */
export function runHeadU7(
  k: Kernels,
  rows: number,
  V: number,
  E: number,
  x: Float32Array,
  w: Int8Array,
  scale: Float32Array,
): { got: Float32Array; xs: Float32Array } {
  const p = {
    x: put(k, x),
    w: put(k, w),
    scale: put(k, scale),
    sums: k.alloc(V * 4),
    xq: k.alloc(rows * E),
    xs: k.alloc(rows * 4),
    zp: k.alloc(rows * 4),
    out: k.alloc(rows * V * 4),
  };
  try {
    k.rowSumI8(p.w, V, E, p.sums);
    k.quantU7(p.x, rows, E, p.xq, p.xs, p.zp);
    k.headU7(p, rows, E, p.w, V, p.sums, p.scale, p.out);
    return { got: k.f32(p.out, rows * V).slice(), xs: k.f32(p.xs, rows).slice() };
  } finally {
    Object.values(p).forEach((ptr) => k.free(ptr));
  }
}

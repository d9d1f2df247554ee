/**
 * Kernel calls the tests share, free of Node imports so that the workerd tests can use them too
 * (test/workerd/kernels.cases.ts).
 */
import { interleaveColumns4 } from '../../../scripts/convert/quantize.ts';
import type { Kernels } from '../../../worker/kernels/kernels.ts';
import { colsums, randn } from './reference.ts';

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
    k.interleave4(p.w, V, E);
    k.quantU7(p.x, rows, E, p.xq, p.xs, p.zp);
    k.headU7(p, rows, E, p.w, V, p.sums, p.scale, p.out);
    return { got: k.f32(p.out, rows * V).slice(), xs: k.f32(p.xs, rows).slice() };
  } finally {
    Object.values(p).forEach((ptr) => k.free(ptr));
  }
}

/**
 * quantU7 + linearU7 over copies of x [M, K] and W [N, K] (row-major here; interleaved for the kernel), adding
 * into a copy of `base` when given. Returns the output and quantU7's rows; frees what it allocated.
 */
export function runLinearU7(
  k: Kernels,
  x: Float32Array,
  M: number,
  K: number,
  w: Int8Array,
  N: number,
  ws: Float32Array,
  bias: Float32Array,
  base?: Float32Array,
): { out: Float32Array; q: { xq: Uint8Array; xs: Float32Array; zp: Int32Array } } {
  const p = {
    x: put(k, x),
    w: put(k, interleaveColumns4(w, N, K)),
    colsum: put(k, colsums(w, N, K)),
    scale: put(k, ws),
    bias: put(k, bias),
    xq: k.alloc(M * K),
    xs: k.alloc(M * 4),
    zp: k.alloc(M * 4),
    out: base ? put(k, base) : k.alloc(M * N * 4),
  };
  try {
    k.quantU7(p.x, M, K, p.xq, p.xs, p.zp);
    k.linearU7(p, M, K, { ...p, N }, p.out, base !== undefined);
    return {
      out: k.f32(p.out, M * N).slice(),
      q: { xq: k.bytes(p.xq, M * K).slice(), xs: k.f32(p.xs, M).slice(), zp: new Int32Array(k.bytes(p.zp, M * 4).slice().buffer) },
    };
  } finally {
    Object.values(p).forEach((ptr) => k.free(ptr));
  }
}

/**
 * Logits rows for the softmax checks: GPT-2-sized and tiny (every n % 4 tail), spreads that reach below exp's
 * -87.3 cut-off, banned (-Infinity) entries, all banned, ties at the max, NaN.
 */
export function softmaxRows(): [name: string, row: Float32Array][] {
  const rows: [string, Float32Array][] = [];
  rows.push(['gpt2 vocab, spread 8', randn(50257, 201, 8)]);
  rows.push(['gpt2 vocab, spread 40 (many below -87.3)', randn(50257, 202, 40)]);
  const banned = randn(50257, 203, 5);
  for (let i = 3; i < banned.length; i += 5) banned[i] = -Infinity;
  rows.push(['gpt2 vocab, a fifth banned', banned]);
  for (let n = 1; n <= 9; n++) rows.push([`n=${n}`, randn(n, 210 + n, 3)]);
  rows.push(['all banned', new Float32Array(7).fill(-Infinity)]);
  rows.push(['ties at the max', Float32Array.of(2, 2, -1, 2, 0.5)]);
  rows.push(['a NaN among them (passed over by the max)', Float32Array.of(1, NaN, 3, -2, 0.5, NaN, 2)]);
  return rows;
}

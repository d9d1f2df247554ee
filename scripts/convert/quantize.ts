/**
 * Weight quantizers. Symmetric (zero point 0 / the 4-bit midpoint 8), so no zero-point tensors are stored.
 */

/** int8 with one scale per output column of a Conv1D weight W [K, N] (in, out): DynamicQuantizeMatMul's B. */
export function quantizeInt8Columns(w: Float32Array, K: number, N: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) scale[n] = Math.max(scale[n]!, Math.abs(w[row + n]!));
  }
  for (let n = 0; n < N; n++) scale[n] = scale[n]! > 0 ? scale[n]! / 127 : 1;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) q[row + n] = Math.round(w[row + n]! / scale[n]!);
  }
  return { q, scale };
}

/** int8 with one scale per row of rows [R, E], written as stored ([R, E]) into `q` at row `rowStart`. */
export function quantizeInt8RowsAt(rows: Float32Array, R: number, E: number, rowStart: number, q: Int8Array, scale: Float32Array): void {
  for (let r = 0; r < R; r++) {
    let m = 0;
    for (let e = 0; e < E; e++) m = Math.max(m, Math.abs(rows[r * E + e]!));
    const s = m > 0 ? m / 127 : 1;
    scale[rowStart + r] = s;
    for (let e = 0; e < E; e++) q[(rowStart + r) * E + e] = Math.round(rows[r * E + e]! / s);
  }
}

/**
 * int8 with one scale per row of rows [R, E], written transposed into `qT` [E, V] at columns
 * [rowStart, rowStart + R). The tied embedding uses this: the LM head is DynamicQuantizeMatMul(h, wteT) and
 * the token lookup is Gather(wteT, ids, axis=1) * scale[ids] — one int8 copy serves both.
 */
export function quantizeInt8RowsInto(
  rows: Float32Array,
  R: number,
  E: number,
  V: number,
  rowStart: number,
  qT: Int8Array,
  scale: Float32Array,
): void {
  for (let r = 0; r < R; r++) {
    let m = 0;
    for (let e = 0; e < E; e++) m = Math.max(m, Math.abs(rows[r * E + e]!));
    const s = m > 0 ? m / 127 : 1;
    scale[rowStart + r] = s;
    for (let e = 0; e < E; e++) qT[e * V + rowStart + r] = Math.round(rows[r * E + e]! / s);
  }
}

export interface Q4Tensor {
  /** [N, blocks, block/2]: two 4-bit values per byte, low nibble first (MatMulNBits' B layout). */
  data: Uint8Array;
  /** [N, blocks] */
  scales: Float32Array;
  blocks: number;
}

/**
 * 4-bit blockwise along K for each of N output rows given as rowsNK [N, K] (the LM head's wte rows, or a
 * transposed Conv1D weight). value = (q - 8) * scale with q in 1..15; K is zero-padded to whole blocks.
 */
export function quantizeQ4Rows(rowsNK: Float32Array, N: number, K: number, block: number): Q4Tensor {
  const blocks = Math.ceil(K / block);
  const data = new Uint8Array(N * blocks * (block / 2));
  const scales = new Float32Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * block;
      const k1 = Math.min(K, k0 + block);
      let m = 0;
      for (let k = k0; k < k1; k++) m = Math.max(m, Math.abs(rowsNK[n * K + k]!));
      const s = m > 0 ? m / 7 : 1;
      scales[n * blocks + b] = s;
      const base = (n * blocks + b) * (block / 2);
      for (let j = 0; j < block; j += 2) {
        const lo = k0 + j < k1 ? Math.round(rowsNK[n * K + k0 + j]! / s) + 8 : 8;
        const hi = k0 + j + 1 < k1 ? Math.round(rowsNK[n * K + k0 + j + 1]! / s) + 8 : 8;
        data[base + j / 2] = lo | (hi << 4);
      }
    }
  }
  return { data, scales, blocks };
}

/** Conv1D W [K, N] -> [N, K]. */
export function transpose(w: Float32Array, K: number, N: number): Float32Array {
  const t = new Float32Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) t[n * K + k] = w[k * N + n]!;
  return t;
}

/**
 * W [N, K] int8 (output-major) in the layout worker/kernels' linear_u7 reads: blocks of four output
 * columns, each block's 16-byte chunks interleaved (block b at byte 4b·K, its chunk c at 4b·K + 64c:
 * W[4b][16c..+16], W[4b+1][16c..], W[4b+2][16c..], W[4b+3][16c..]). N % 4 == 0 and K % 16 == 0.
 */
export function interleaveColumns4(w: Int8Array, N: number, K: number): Int8Array {
  if (N % 4 !== 0 || K % 16 !== 0) throw new RangeError(`interleaveColumns4: N = ${N} must be a multiple of 4 and K = ${K} of 16`);
  const out = new Int8Array(N * K);
  for (let n = 0; n < N; n++) {
    const block = (n >> 2) * 4 * K;
    const lane = (n & 3) * 16;
    for (let c = 0; c < K; c += 16) out.set(w.subarray(n * K + c, n * K + c + 16), block + c * 4 + lane);
  }
  return out;
}

/**
 * int8 linear with one activation scale per row: y = x @ W + b where x [batch, seq, K] is quantized to
 * uint8 with a scale and zero point of its own for every (batch, seq) row, so a row's output is a function
 * of that row alone. DynamicQuantizeMatMul picks ONE scale for the whole tensor, so under continuous
 * batching a row's logits would depend on the other rows in the run (worker/generation/scheduler.ts).
 *
 * Built from plain ONNX ops (no DynamicQuantizeLinear, which ORT would fuse back into the per-tensor
 * DynamicQuantizeMatMul): per row r, rmin = min(min(x_r), 0), rmax = max(max(x_r), 0),
 * s_r = (rmax - rmin) / 255 (1 if 0), zp_r = round(-rmin / s_r), xq = clip(round(x / s_r) + zp_r, 0, 255);
 * y = (MatMulInteger(xq, Wq) - zp_r * colsum(Wq)) * s_r * w_scale + b. Round is half-to-even, which is
 * fine: the result depends on the row alone.
 */
import { DT, type GraphBuilder } from './onnx-builder.ts';

/** Σ_k q[k, n] for W [K, N] int8: the zero-point correction of MatMulInteger without b_zero_point. */
export function columnSums(q: Int8Array, K: number, N: number): Int32Array {
  const sum = new Int32Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) sum[n] = sum[n]! + q[row + n]!;
  }
  return sum;
}

/** The row-quantized linear; `W` int8 [K, N], `colsum` int32 [N], `wScale` and `bias` float [N]. */
export function rowInt8Linear(g: GraphBuilder, x: string, W: string, colsum: string, wScale: string, bias: string): string {
  const zero = g.constF32([0], []);
  const rmin = g.op1('Min', [g.op1('ReduceMin', [x], { axes: [-1], keepdims: 1 }), zero]); // [batch, seq, 1]
  const rmax = g.op1('Max', [g.op1('ReduceMax', [x], { axes: [-1], keepdims: 1 }), zero]);
  const range = g.op1('Div', [g.op1('Sub', [rmax, rmin]), g.constF32([255], [])]);
  const isZero = g.op1('Equal', [range, zero]);
  const scale = g.op1('Where', [isZero, g.constF32([1], []), range]); // [batch, seq, 1]
  const zp = g.op1('Clip', [g.op1('Round', [g.op1('Div', [g.op1('Neg', [rmin]), scale])]), zero, g.constF32([255], [])]);
  const xq = g.op1('Cast', [g.op1('Clip', [g.op1('Add', [g.op1('Round', [g.op1('Div', [x, scale])]), zp]), zero, g.constF32([255], [])])], {
    to: DT.UINT8,
  });
  const acc = g.op1('MatMulInteger', [xq, W]); // [batch, seq, N] int32
  const corr = g.op1('Mul', [g.op1('Cast', [zp], { to: DT.INT32 }), colsum]); // [batch, seq, N]
  const y = g.op1('Cast', [g.op1('Sub', [acc, corr])], { to: DT.FLOAT });
  return g.op1('Add', [g.op1('Mul', [g.op1('Mul', [y, scale]), wScale]), bias]);
}

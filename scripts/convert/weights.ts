/**
 * Emits weight-bearing ops for one stage graph, reading each tensor from the checkpoint only when it is
 * needed and writing it straight into the stage's shards (so memory holds one tensor at a time).
 *
 * Quantization: fp32 keeps every weight; int8 stores linear weights with per-column scales, for
 * DynamicQuantizeMatMul or (host segments, activations per row) row-int8.ts; q4 stores them for
 * MatMulNBits. wpe, LayerNorm params and biases stay fp32 in every mode.
 */
import type { Checkpoint } from './checkpoint.ts';
import { fromSafetensors } from './checkpoint.ts';
import { DT, type DataType, type GraphBuilder } from './onnx-builder.ts';
import { quantizeInt8Columns, quantizeQ4Rows, transpose } from './quantize.ts';
import { columnSums, rowInt8Linear } from './row-int8.ts';
import type { ShardWriter } from './shards.ts';

export type QuantMethod = 'fp32' | 'int8' | 'q4';
export const MS = 'com.microsoft';

export interface WeightContext {
  g: GraphBuilder;
  ck: Checkpoint;
  shards: ShardWriter;
  quant: QuantMethod;
  /** q4 block size along K. */
  block: number;
  /** q4: the LM head is split into this many MatMulNBits over vocab slices. */
  headChunks: number;
  /** int8: one activation scale per row (scripts/convert/row-int8.ts) or per tensor (DynamicQuantizeMatMul). */
  activations?: ActivationScales;
}

export type ActivationScales = 'row' | 'tensor';

export const bytesOf = (a: Float32Array | Int8Array | Uint8Array | Int32Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export async function read(ctx: WeightContext, name: string, rowStart?: number, rowCount?: number): Promise<Float32Array> {
  try {
    return await ctx.ck.st.readFloat32(ctx.ck.prefix + name, rowStart, rowCount);
  } catch (e) {
    throw fromSafetensors(e);
  }
}

async function place(
  ctx: WeightContext,
  name: string,
  type: DataType,
  dims: number[],
  data: Float32Array | Int8Array | Uint8Array | Int32Array,
): Promise<string> {
  return ctx.g.externalInitializer(name, type, dims, await ctx.shards.add([bytesOf(data)]));
}

/** A tensor kept as fp32 (biases, LayerNorm, wpe). */
export async function fp32Weight(ctx: WeightContext, name: string, dims: number[]): Promise<string> {
  return place(ctx, name, DT.FLOAT, dims, await read(ctx, name));
}

/** y = x @ W + b for a Conv1D layer `prefix` with W [K, N]. x: [batch, seq, K] -> [batch, seq, N]. */
export async function linear(ctx: WeightContext, x: string, prefix: string, K: number, N: number): Promise<string> {
  const { g } = ctx;
  const w = await read(ctx, `${prefix}.weight`);
  const bias = await fp32Weight(ctx, `${prefix}.bias`, [N]);
  if (ctx.quant === 'fp32') {
    const W = await place(ctx, `${prefix}.weight`, DT.FLOAT, [K, N], w);
    return g.op1('Add', [g.op1('MatMul', [x, W]), bias]);
  }
  if (ctx.quant === 'int8') {
    const { q, scale } = quantizeInt8Columns(w, K, N);
    const W = await place(ctx, `${prefix}.weight_q`, DT.INT8, [K, N], q);
    const S = await place(ctx, `${prefix}.weight_scale`, DT.FLOAT, [N], scale);
    if (ctx.activations === 'row') {
      const C = await place(ctx, `${prefix}.weight_colsum`, DT.INT32, [N], columnSums(q, K, N));
      return rowInt8Linear(g, x, W, C, S, bias);
    }
    // Inputs: A, B, b_scale, b_zero_point (absent: symmetric), bias.
    return g.op1('DynamicQuantizeMatMul', [x, W, S, '', bias], {}, { domain: MS });
  }
  const q4 = quantizeQ4Rows(transpose(w, K, N), N, K, ctx.block);
  const W = await place(ctx, `${prefix}.weight_q4`, DT.UINT8, [N, q4.blocks, ctx.block / 2], q4.data);
  const S = await place(ctx, `${prefix}.weight_q4_scale`, DT.FLOAT, [N * q4.blocks], q4.scales);
  const y = g.op1('MatMulNBits', [x, W, S], { K, N, bits: 4, block_size: ctx.block }, { domain: MS });
  return g.op1('Add', [y, bias]);
}

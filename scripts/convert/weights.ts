/**
 * Emits weight-bearing ops for one stage graph, reading each tensor from the checkpoint only when it is
 * needed and writing it straight into the stage's shards (so memory holds one tensor at a time).
 *
 * Quantization: fp32 keeps every weight; int8 stores linear weights for DynamicQuantizeMatMul (per-column
 * scales); q4 stores them for MatMulNBits. wpe, LayerNorm params and biases stay fp32 in every mode.
 */
import type { Checkpoint } from './checkpoint.ts';
import { fromSafetensors } from './checkpoint.ts';
import { ConvertError } from './errors.ts';
import { DT, type DataType, type GraphBuilder } from './onnx-builder.ts';
import { quantizeInt8Columns, quantizeInt8RowsInto, quantizeQ4Rows, transpose } from './quantize.ts';
import type { ShardWriter } from './shards.ts';

export type QuantMethod = 'fp32' | 'int8' | 'q4';
const MS = 'com.microsoft';

export interface WeightContext {
  g: GraphBuilder;
  ck: Checkpoint;
  shards: ShardWriter;
  quant: QuantMethod;
  /** q4 block size along K. */
  block: number;
  /** q4: the LM head is split into this many MatMulNBits over vocab slices. */
  headChunks: number;
}

const bytesOf = (a: Float32Array | Int8Array | Uint8Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function read(ctx: WeightContext, name: string, rowStart?: number, rowCount?: number): Promise<Float32Array> {
  try {
    return await ctx.ck.st.readFloat32(ctx.ck.prefix + name, rowStart, rowCount);
  } catch (e) {
    throw fromSafetensors(e);
  }
}

async function place(ctx: WeightContext, name: string, type: DataType, dims: number[], data: Float32Array | Int8Array | Uint8Array): Promise<string> {
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
    // Inputs: A, B, b_scale, b_zero_point (absent: symmetric), bias.
    return g.op1('DynamicQuantizeMatMul', [x, W, S, '', bias], {}, { domain: MS });
  }
  const q4 = quantizeQ4Rows(transpose(w, K, N), N, K, ctx.block);
  const W = await place(ctx, `${prefix}.weight_q4`, DT.UINT8, [N, q4.blocks, ctx.block / 2], q4.data);
  const S = await place(ctx, `${prefix}.weight_q4_scale`, DT.FLOAT, [N * q4.blocks], q4.scales);
  const y = g.op1('MatMulNBits', [x, W, S], { K, N, bits: 4, block_size: ctx.block }, { domain: MS });
  return g.op1('Add', [y, bias]);
}

/**
 * The tied token embedding, stored once per stage in shards of its own, so that when stage 0 (lookup) and
 * the last stage (LM head) both need it the shard bytes are identical and the blob is stored once.
 */
export interface TiedEmbedding {
  /** input_ids [batch, seq] -> [batch, seq, n_embd] */
  lookup(ids: string): string;
  /** h [batch, k, n_embd] -> logits [batch, k, vocab] */
  head(h: string, output: string): string;
}

const ROW_BLOCK = 4096; // wte rows read at a time: 12 MB of fp32 for GPT-2's width

export async function tiedEmbedding(ctx: WeightContext): Promise<TiedEmbedding> {
  const { g, ck } = ctx;
  const V = ck.config.vocab_size;
  const E = ck.config.n_embd;
  await ctx.shards.closeCurrent();
  const lmHead = ck.st.tensors.has('lm_head.weight');
  const rows = async (start: number, count: number): Promise<Float32Array> => {
    const w = await read(ctx, 'wte.weight', start, count);
    if (lmHead) await checkTied(ctx, w, start, count);
    return w;
  };
  let emb: TiedEmbedding;
  if (ctx.quant === 'fp32') {
    async function* blocks() {
      for (let r = 0; r < V; r += ROW_BLOCK) yield bytesOf(await rows(r, Math.min(ROW_BLOCK, V - r)));
    }
    const W = g.externalInitializer('wte.weight', DT.FLOAT, [V, E], await ctx.shards.addStream(V * E * 4, blocks())); // [vocab, n_embd]
    emb = {
      lookup: (ids) => g.op1('Gather', [W, ids], { axis: 0 }),
      head: (h, output) => {
        // Gemm(transB) reads wte as stored: no transposed copy. Gemm is 2-D: fold [batch, k] and unfold.
        const flat = g.op1('Reshape', [h, g.constI64([-1, E])]); // [batch*k, n_embd]
        const y = g.op1('Gemm', [flat, W], { transB: 1 }); // [batch*k, vocab]
        const lead = g.op1('Shape', [h], { start: 0, end: 2 }); // [batch, k]
        const shape = g.op1('Concat', [lead, g.constI64([V])], { axis: 0 });
        return g.op1('Reshape', [y, shape], {}, { output });
      },
    };
  } else if (ctx.quant === 'int8') {
    const qT = new Int8Array(E * V); // [n_embd, vocab]
    const scale = new Float32Array(V);
    for (let r = 0; r < V; r += ROW_BLOCK) {
      const n = Math.min(ROW_BLOCK, V - r);
      quantizeInt8RowsInto(await rows(r, n), n, E, V, r, qT, scale);
    }
    const W = g.externalInitializer('wte.weight_qT', DT.INT8, [E, V], await ctx.shards.add([bytesOf(qT)]));
    const S = g.externalInitializer('wte.weight_scale', DT.FLOAT, [V], await ctx.shards.add([bytesOf(scale)]));
    emb = {
      lookup: (ids) => {
        const cols = g.op1('Gather', [W, ids], { axis: 1 }); // [n_embd, batch, seq] int8
        const f = g.op1('Transpose', [g.op1('Cast', [cols], { to: DT.FLOAT })], { perm: [1, 2, 0] }); // [batch, seq, n_embd]
        const s = g.op1('Unsqueeze', [g.op1('Gather', [S, ids], { axis: 0 }), g.constI64([2])]); // [batch, seq, 1]
        return g.op1('Mul', [f, s]);
      },
      head: (h, output) => g.op1('DynamicQuantizeMatMul', [h, W, S], {}, { domain: MS, output }),
    };
  } else {
    emb = await q4Embedding(ctx, rows);
  }
  await ctx.shards.closeCurrent();
  return emb;
}

/**
 * q4: the vocabulary is cut into `headChunks` slices. Each slice is one MatMulNBits for the head (ORT's
 * WASM kernel dequantizes B per call, so small slices bound that scratch) and, for the lookup, a
 * GatherBlockQuantized over the same bytes with out-of-slice ids masked to zero and the slices summed.
 */
async function q4Embedding(ctx: WeightContext, rows: (s: number, n: number) => Promise<Float32Array>): Promise<TiedEmbedding> {
  const { g, ck } = ctx;
  const V = ck.config.vocab_size;
  const E = ck.config.n_embd;
  const size = Math.ceil(V / ctx.headChunks);
  const slices: { start: number; n: number; W: string; S: string; blocks: number }[] = [];
  for (let start = 0, c = 0; start < V; start += size, c++) {
    const n = Math.min(size, V - start);
    const q = quantizeQ4Rows(await rows(start, n), n, E, ctx.block);
    const W = g.externalInitializer(`wte.q4.${c}`, DT.UINT8, [n, q.blocks, ctx.block / 2], await ctx.shards.add([bytesOf(q.data)]));
    const S = g.externalInitializer(`wte.q4_scale.${c}`, DT.FLOAT, [n * q.blocks], await ctx.shards.add([bytesOf(q.scales)]));
    slices.push({ start, n, W, S, blocks: q.blocks });
  }
  return {
    lookup: (ids) => {
      let sum = '';
      for (const s of slices) {
        const local = g.op1('Sub', [ids, g.constI64([s.start], [])]);
        const inside = g.op1('And', [g.op1('GreaterOrEqual', [local, g.constI64([0], [])]), g.op1('Less', [local, g.constI64([s.n], [])])]);
        const safe = g.op1('Where', [inside, local, g.constI64([0], [])]); // [batch, seq]
        // data [n, blocks, block/2] packed; quantize_axis 2 with block = the whole last dim: one scale per
        // block. The scales' Reshape is constant-folded by ORT: a second copy of the (small) scales only.
        const rowsQ = g.op1('GatherBlockQuantized', [s.W, safe, g.op1('Reshape', [s.S, g.constI64([s.n, s.blocks, 1])])], { gather_axis: 0, quantize_axis: 2, block_size: ctx.block, bits: 4 }, { domain: MS }); // [batch, seq, blocks, block]
        const flat = g.op1('Reshape', [rowsQ, g.constI64([0, 0, -1])]); // [batch, seq, blocks*block]
        const trimmed = s.blocks * ctx.block === E ? flat : g.op1('Slice', [flat, g.constI64([0]), g.constI64([E]), g.constI64([2])]);
        const masked = g.op1('Mul', [trimmed, g.op1('Unsqueeze', [g.op1('Cast', [inside], { to: DT.FLOAT }), g.constI64([2])])]);
        sum = sum ? g.op1('Add', [sum, masked]) : masked;
      }
      return sum;
    },
    head: (h, output) => {
      const parts = slices.map((s) => g.op1('MatMulNBits', [h, s.W, s.S], { K: E, N: s.n, bits: 4, block_size: ctx.block }, { domain: MS }));
      return parts.length === 1 ? g.op1('Identity', [parts[0]!], {}, { output }) : g.op1('Concat', parts, { axis: -1 }, { output });
    },
  };
}

async function checkTied(ctx: WeightContext, wte: Float32Array, start: number, count: number): Promise<void> {
  let lm: Float32Array;
  try {
    lm = await ctx.ck.st.readFloat32('lm_head.weight', start, count);
  } catch (e) {
    throw fromSafetensors(e);
  }
  for (let i = 0; i < lm.length; i++) {
    if (lm[i] !== wte[i]) {
      throw new ConvertError('untied_lm_head', `lm_head.weight differs from wte.weight (row ${start + Math.floor(i / ctx.ck.config.n_embd)}): GPT-2 ties them; this checkpoint is not a plain GPT-2`);
    }
  }
}

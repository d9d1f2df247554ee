/**
 * The tied token embedding (wte): the lookup in stage 0 and the LM head in the last stage read the same
 * stored tensor, in the layout each quantization needs, so it is never stored twice.
 */
import { fromSafetensors } from './checkpoint.ts';
import { ConvertError } from './errors.ts';
import { DT } from './onnx-builder.ts';
import { quantizeInt8RowsInto, quantizeQ4Rows } from './quantize.ts';
import { MS, bytesOf, read, type WeightContext } from './weights.ts';

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
        const rowsQ = g.op1(
          'GatherBlockQuantized',
          [s.W, safe, g.op1('Reshape', [s.S, g.constI64([s.n, s.blocks, 1])])],
          { gather_axis: 0, quantize_axis: 2, block_size: ctx.block, bits: 4 },
          { domain: MS },
        ); // [batch, seq, blocks, block]
        const flat = g.op1('Reshape', [rowsQ, g.constI64([0, 0, -1])]); // [batch, seq, blocks*block]
        const trimmed = s.blocks * ctx.block === E ? flat : g.op1('Slice', [flat, g.constI64([0]), g.constI64([E]), g.constI64([2])]);
        const masked = g.op1('Mul', [trimmed, g.op1('Unsqueeze', [g.op1('Cast', [inside], { to: DT.FLOAT }), g.constI64([2])])]);
        sum = sum ? g.op1('Add', [sum, masked]) : masked;
      }
      return sum;
    },
    head: (h, output) => {
      const parts = slices.map((s) =>
        g.op1('MatMulNBits', [h, s.W, s.S], { K: E, N: s.n, bits: 4, block_size: ctx.block }, { domain: MS }),
      );
      return parts.length === 1 ? g.op1('Identity', [parts[0]!], {}, { output }) : g.op1('Concat', parts, { axis: -1 }, { output });
    },
  };
}

export async function checkTied(ctx: WeightContext, wte: Float32Array, start: number, count: number): Promise<void> {
  let lm: Float32Array;
  try {
    lm = await ctx.ck.st.readFloat32('lm_head.weight', start, count);
  } catch (e) {
    throw fromSafetensors(e);
  }
  for (let i = 0; i < lm.length; i++) {
    if (lm[i] !== wte[i]) {
      throw new ConvertError(
        'untied_lm_head',
        `lm_head.weight differs from wte.weight (row ${start + Math.floor(i / ctx.ck.config.n_embd)}): GPT-2 ties them; this checkpoint is not a plain GPT-2`,
      );
    }
  }
}

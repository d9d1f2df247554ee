/**
 * The `host-attention` layout (contract in worker/model/manifest.ts): ORT gets the dense parts of the
 * decoder as n_layer + 1 segment graphs; attention, the KV cache, the embeddings and the tied LM head run
 * in the Worker's own WASM kernels (worker/kernels). Why: onnxruntime-web copies every input into its heap
 * and every output out of it on each run, so a cache that lives in ORT is copied twice per token
 * (~50 ms at 512 tokens for GPT-2-small); the segments' inputs and outputs are a few KB per token.
 */
import { innerWidth } from '../lib/gpt2-names.ts';
import { checkTied } from './embedding.ts';
import { DT } from './onnx-builder.ts';
import { quantizeInt8RowsAt } from './quantize.ts';
import { bytesOf, fp32Weight, linear, read, type WeightContext } from './weights.ts';

export interface SegmentIO {
  inputs: string[];
  outputs: string[];
}

/** Segment j of an L-layer model: [post-attention half of layer j-1] + [pre-attention half of layer j]. */
export async function buildSegment(ctx: WeightContext, j: number, L: number): Promise<SegmentIO> {
  const { g, ck } = ctx;
  const { n_embd: E, layer_norm_epsilon: eps } = ck.config;
  const I = innerWidth(ck.config);
  const dims = (w: number) => ['batch', 'seq', w];
  const ln = async (input: string, prefix: string): Promise<string> =>
    g.op1('LayerNormalization', [input, await fp32Weight(ctx, `${prefix}.weight`, [E]), await fp32Weight(ctx, `${prefix}.bias`, [E])], {
      axis: -1,
      epsilon: { float: eps },
    });
  const inputs: string[] = [];
  const outputs: string[] = [];

  let x = g.input('hidden_in', DT.FLOAT, dims(E)); // [batch, seq, n_embd]: the residual stream
  inputs.push(x);
  if (j > 0) {
    const p = `h.${j - 1}`;
    const attn = g.input('attn_in', DT.FLOAT, dims(E)); // [batch, seq, n_embd]: heads merged, before c_proj
    inputs.push(attn);
    x = g.op1('Add', [x, await linear(ctx, attn, `${p}.attn.c_proj`, E, E)]);
    const fc = await linear(ctx, await ln(x, `${p}.ln_2`), `${p}.mlp.c_fc`, E, I); // [batch, seq, n_inner]
    const act = g.op1('FastGelu', [fc], {}, { domain: 'com.microsoft' }); // gelu_new: the tanh approximation
    x = g.op1('Add', [x, await linear(ctx, act, `${p}.mlp.c_proj`, I, E)]);
  }
  if (j === L) {
    g.op1(
      'LayerNormalization',
      [x, await fp32Weight(ctx, 'ln_f.weight', [E]), await fp32Weight(ctx, 'ln_f.bias', [E])],
      { axis: -1, epsilon: { float: eps } },
      { output: 'last_hidden_state' },
    );
    g.output('last_hidden_state', DT.FLOAT, dims(E));
    outputs.push('last_hidden_state');
    return { inputs, outputs };
  }
  if (j > 0) {
    g.op1('Identity', [x], {}, { output: 'hidden_out' });
    g.output('hidden_out', DT.FLOAT, dims(E));
    outputs.push('hidden_out');
  }
  const qkv = await linear(ctx, await ln(x, `h.${j}.ln_1`), `h.${j}.attn.c_attn`, E, 3 * E);
  g.op1('Identity', [qkv], {}, { output: 'qkv' });
  g.output('qkv', DT.FLOAT, dims(3 * E)); // [batch, seq, 3*n_embd]: q | k | v, heads concatenated in each
  outputs.push('qkv');
  return { inputs, outputs };
}

export interface HostTensorOut {
  dtype: 'int8' | 'float32';
  shape: number[];
  sha256: string;
  bytes: number;
}

const ROW_BLOCK = 4096; // wte rows read at a time: 12 MB of fp32 for GPT-2's width

/**
 * wte (int8 with a per-row scale, or float32) and wpe (float32) as raw blobs, each in a file of its own:
 * `writer` is a ShardWriter whose shards are closed after every tensor, so each one is a whole blob.
 */
export async function writeHostTensors(ctx: WeightContext): Promise<{ wte: HostTensorOut; wte_scale?: HostTensorOut; wpe: HostTensorOut }> {
  const { ck, shards } = ctx;
  const { vocab_size: V, n_embd: E, n_positions: P } = ck.config;
  const lmHead = ck.st.tensors.has('lm_head.weight');
  const rows = async (start: number, count: number): Promise<Float32Array> => {
    const w = await read(ctx, 'wte.weight', start, count);
    if (lmHead) await checkTied(ctx, w, start, count);
    return w;
  };
  const put = async (
    dtype: HostTensorOut['dtype'],
    shape: number[],
    length: number,
    chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<HostTensorOut> => {
    await shards.closeCurrent();
    await shards.addStream(length, chunks);
    await shards.closeCurrent();
    const r = shards.shards().at(-1)!;
    return { dtype, shape, sha256: r.sha256, bytes: r.bytes };
  };
  let wte: HostTensorOut;
  let wte_scale: HostTensorOut | undefined;
  if (ctx.quant === 'int8') {
    const q = new Int8Array(V * E); // [vocab, n_embd]
    const scale = new Float32Array(V);
    for (let r = 0; r < V; r += ROW_BLOCK) {
      const n = Math.min(ROW_BLOCK, V - r);
      quantizeInt8RowsAt(await rows(r, n), n, E, r, q, scale);
    }
    wte = await put('int8', [V, E], q.byteLength, [bytesOf(q)]);
    wte_scale = await put('float32', [V], scale.byteLength, [bytesOf(scale)]);
  } else {
    async function* blocks() {
      for (let r = 0; r < V; r += ROW_BLOCK) yield bytesOf(await rows(r, Math.min(ROW_BLOCK, V - r)));
    }
    wte = await put('float32', [V, E], V * E * 4, blocks());
  }
  const wpe = await put('float32', [P, E], P * E * 4, [bytesOf(await read(ctx, 'wpe.weight'))]);
  return { wte, ...(wte_scale ? { wte_scale } : {}), wpe };
}

/**
 * The `host-attention` layout (contract in worker/model/manifest.ts): the dense parts of the decoder as
 * n_layer + 1 segments — ORT graphs (buildSegment) or, for int8 by default, tensors for the Worker's own
 * kernels (writeKernelSegment); attention, the KV cache, the embeddings and the tied LM head run
 * in the Worker's own WASM kernels (worker/kernels). Why: onnxruntime-web copies every input into its heap
 * and every output out of it on each run, so a cache that lives in ORT is copied twice per token
 * (~50 ms at 512 tokens for GPT-2-small); the segments' inputs and outputs are a few KB per token.
 */
import { kernelPartTensors, kernelSegmentParts } from '../../worker/model/dense.ts';
import { innerWidth, type KernelTensor } from '../../worker/model/manifest.ts';
import { checkTied } from './embedding.ts';
import { DT } from './onnx-builder.ts';
import { interleaveColumns4, quantizeInt8Columns, quantizeInt8RowsAt } from './quantize.ts';
import { columnSums } from './row-int8.ts';
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

/**
 * Segment j as a kernel segment (manifest.ts, worker/model/dense.ts): the same computation as
 * buildSegment's graph, its tensors packed into one shard of their own for the Worker's kernels. Linear
 * weights are the same symmetric per-column int8 as the graph's (quantizeInt8Columns), stored
 * output-major [N, K] in linear_u7's interleaved blocks of four columns (interleaveColumns4) with their
 * column sums; LayerNorm parameters and biases stay float32.
 */
export async function writeKernelSegment(
  ctx: WeightContext,
  j: number,
  L: number,
): Promise<SegmentIO & { kernel: KernelTensor[]; shard: string }> {
  const { ck, shards } = ctx;
  const E = ck.config.n_embd;
  // Where each part comes from in the checkpoint.
  const source = {
    attn_proj: `h.${j - 1}.attn.c_proj`,
    ln_2: `h.${j - 1}.ln_2`,
    fc: `h.${j - 1}.mlp.c_fc`,
    mlp_proj: `h.${j - 1}.mlp.c_proj`,
    ln_1: `h.${j}.ln_1`,
    qkv: `h.${j}.attn.c_attn`,
    ln_f: 'ln_f',
  };
  const parts: { name: string; dtype: KernelTensor['dtype']; shape: number[]; data: Uint8Array }[] = [];
  for (const part of kernelSegmentParts(ck.config, j)) {
    const prefix = source[part.name];
    let data: (Int8Array | Int32Array | Float32Array)[];
    if (part.kind === 'linear') {
      const { N, K } = part;
      const { q, scale } = quantizeInt8Columns(await read(ctx, `${prefix}.weight`), K, N); // q [K, N]
      const t = new Int8Array(N * K);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) t[n * K + k] = q[k * N + n]!;
      data = [interleaveColumns4(t, N, K), columnSums(q, K, N), scale, await read(ctx, `${prefix}.bias`)];
    } else data = [await read(ctx, `${prefix}.weight`), await read(ctx, `${prefix}.bias`)];
    kernelPartTensors(part, E).forEach((t, i) => parts.push({ ...t, data: bytesOf(data[i]!) }));
  }
  const inputs = j > 0 ? ['hidden_in', 'attn_in'] : ['hidden_in'];
  const outputs = j === L ? ['last_hidden_state'] : j > 0 ? ['hidden_out', 'qkv'] : ['qkv'];
  const kernel: KernelTensor[] = [];
  let offset = 0;
  for (const t of parts) {
    kernel.push({ name: t.name, dtype: t.dtype, shape: t.shape, offset });
    offset += Math.ceil(t.data.byteLength / 16) * 16;
  }
  const blob = new Uint8Array(offset);
  parts.forEach((t, i) => blob.set(t.data, kernel[i]!.offset));
  await shards.closeCurrent();
  await shards.addStream(blob.byteLength, [blob]);
  await shards.closeCurrent();
  return { inputs, outputs, kernel, shard: shards.shards().at(-1)!.location };
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

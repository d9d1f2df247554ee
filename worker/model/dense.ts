/**
 * The dense half of a host-attention layer — what runs between two attentions — as a SegmentRunner: an
 * ORT session over the segment's graph (OrtSegment), or the Worker's own kernels over the segment's
 * tensors (DenseSegment, manifest version 3, int8). Segment j of an L-layer model (manifest.ts):
 *
 *   j > 0   x += attn_proj(attn)                         layer j-1's c_proj, on the residual
 *           x += mlp_proj(gelu_new(fc(ln_2(x))))         layer j-1's MLP        → hidden_out
 *   j < L   qkv = c_attn(ln_1(x))                        layer j's projections  → qkv
 *   j = L   last_hidden_state = ln_f(x)
 *
 * DenseSegment quantizes each linear's input per row to 7 bits (worker/kernels: quant_u7, linear_u7), so a
 * row's result is a function of that row alone: the same bits whether it runs alone or batched with any
 * other rows (continuous batching), with no ORT session, arena or copy of the weights.
 */
import type * as ortTypes from 'onnxruntime-web';
import type { Kernels } from '../kernels/index.ts';
import { innerWidth, type KernelTensor, type ModelConfig } from './manifest.ts';
import type { OrtRuntime } from './ort.ts';

/** What a segment returns: hidden_out (0 < j < L), qkv (j < L), last_hidden_state (j = L). */
export interface SegmentOutput {
  hidden?: Float32Array;
  qkv?: Float32Array;
  last?: Float32Array;
}

export interface SegmentRunner {
  /** Runs the segment on `rows` × `T` positions: hidden [rows, T, E], attn [rows, T, E] (null for segment 0). */
  run(hidden: Float32Array, attn: Float32Array | null, rows: number, T: number): Promise<SegmentOutput>;
  release(): Promise<void>;
}

/** An ORT session over a graph segment. */
export class OrtSegment implements SegmentRunner {
  constructor(
    private readonly rt: OrtRuntime,
    readonly session: ortTypes.InferenceSession,
    private readonly E: number,
  ) {}

  async run(hidden: Float32Array, attn: Float32Array | null, rows: number, T: number): Promise<SegmentOutput> {
    const { Tensor } = this.rt.ort;
    const dims = [rows, T, this.E];
    const feeds: Record<string, ortTypes.Tensor> = { hidden_in: new Tensor('float32', hidden, dims) };
    if (attn) feeds.attn_in = new Tensor('float32', attn, dims);
    const out = await this.session.run(feeds);
    const data = (name: string) => out[name]?.data as Float32Array | undefined;
    const r: SegmentOutput = {};
    const h = data('hidden_out');
    const q = data('qkv');
    const l = data('last_hidden_state');
    if (h) r.hidden = h;
    if (q) r.qkv = q;
    if (l) r.last = l;
    return r;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The kernels' pointers to one int8 linear: w [N, K], colsum [N], scale [N], bias [N]. */
interface Linear {
  w: number;
  N: number;
  K: number;
  colsum: number;
  scale: number;
  bias: number;
}
interface Norm {
  gamma: number;
  beta: number;
}

export class DenseSegmentError extends Error {
  override name = 'DenseSegmentError';
}

/**
 * The parts of kernel segment j of a model, in the order the converter writes them — the one definition of
 * what a kernel segment holds (scripts/convert/host-graph.ts writes them, checkKernelTensors checks them):
 * for j > 0 the rest of layer j-1 (attn_proj, ln_2, fc, mlp_proj), then ln_1 and qkv of layer j, or ln_f
 * when j = n_layer. A linear is W [N, K] over K inputs.
 */
export type KernelPart =
  | { kind: 'linear'; name: 'attn_proj' | 'fc' | 'mlp_proj' | 'qkv'; N: number; K: number }
  | { kind: 'norm'; name: 'ln_1' | 'ln_2' | 'ln_f' };

export function kernelSegmentParts(
  config: { n_layer: number; n_embd: number; n_inner?: number | null | undefined },
  j: number,
): KernelPart[] {
  const E = config.n_embd;
  const I = innerWidth(config);
  const parts: KernelPart[] = [];
  if (j > 0)
    parts.push(
      { kind: 'linear', name: 'attn_proj', N: E, K: E },
      { kind: 'norm', name: 'ln_2' },
      { kind: 'linear', name: 'fc', N: I, K: E },
      { kind: 'linear', name: 'mlp_proj', N: E, K: I },
    );
  if (j < config.n_layer) parts.push({ kind: 'norm', name: 'ln_1' }, { kind: 'linear', name: 'qkv', N: 3 * E, K: E });
  else parts.push({ kind: 'norm', name: 'ln_f' });
  return parts;
}

/** A part's tensors, in order: a linear's w int8 [N, K], colsum int32, scale and bias float32 [N]; a norm's weight and bias float32 [E]. */
export function kernelPartTensors(p: KernelPart, E: number): Omit<KernelTensor, 'offset'>[] {
  if (p.kind === 'norm')
    return [
      { name: `${p.name}.weight`, dtype: 'float32', shape: [E] },
      { name: `${p.name}.bias`, dtype: 'float32', shape: [E] },
    ];
  return [
    { name: `${p.name}.w`, dtype: 'int8', shape: [p.N, p.K] },
    { name: `${p.name}.colsum`, dtype: 'int32', shape: [p.N] },
    { name: `${p.name}.scale`, dtype: 'float32', shape: [p.N] },
    { name: `${p.name}.bias`, dtype: 'float32', shape: [p.N] },
  ];
}

/**
 * Checks a kernel segment's tensor table against the model's shapes and the shard's size, and returns
 * each tensor's byte offset by name. Throws DenseSegmentError naming the first problem.
 */
function checkKernelTensors(
  config: ModelConfig,
  j: number,
  tensors: readonly KernelTensor[],
  shardBytes: number,
): Map<string, KernelTensor> {
  const want = new Map(
    kernelSegmentParts(config, j)
      .flatMap((p) => kernelPartTensors(p, config.n_embd))
      .map((t) => [t.name, [t.dtype, t.shape]] as const),
  );
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const [name, [dtype, shape]] of want) {
    const t = byName.get(name);
    if (!t) throw new DenseSegmentError(`segment ${j} lacks tensor ${name}`);
    if (t.dtype !== dtype || t.shape.join() !== shape.join())
      throw new DenseSegmentError(`segment ${j}: ${name} must be ${dtype} [${shape.join(', ')}], is ${t.dtype} [${t.shape.join(', ')}]`);
    const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'int8' ? 1 : 4);
    if (t.offset % 16 !== 0 || t.offset + bytes > shardBytes)
      throw new DenseSegmentError(
        `segment ${j}: ${name} at offset ${t.offset} (${bytes} bytes) is not 16-aligned inside its ${shardBytes}-byte shard`,
      );
  }
  if (byName.size !== want.size) {
    const extra = [...byName.keys()].filter((n) => !want.has(n));
    throw new DenseSegmentError(`segment ${j} has tensors this reader does not know: ${extra.join(', ')}`);
  }
  return byName;
}

/**
 * A kernel segment: its shard's bytes live in the kernels' memory at `base` (owned by this object), each
 * tensor at base + offset. Scratch for a call is allocated per call and freed after it.
 */
export class DenseSegment implements SegmentRunner {
  private readonly E: number;
  private readonly I: number;
  private readonly eps: number;
  /** j > 0: the rest of layer j-1 (its attention's c_proj, then its MLP). */
  private readonly close?: { attnProj: Linear; ln2: Norm; fc: Linear; mlpProj: Linear };
  /** j < L: the start of layer j (ln_1, c_attn); else ln_f. */
  private readonly open: { ln1: Norm; qkv: Linear } | { lnf: Norm };
  private released = false;

  constructor(
    private readonly k: Kernels,
    config: ModelConfig,
    readonly index: number,
    tensors: readonly KernelTensor[],
    private readonly base: number,
    shardBytes: number,
  ) {
    this.E = config.n_embd;
    this.I = innerWidth(config);
    this.eps = config.layer_norm_epsilon;
    const t = checkKernelTensors(config, index, tensors, shardBytes);
    const at = (name: string) => base + t.get(name)!.offset;
    const linear = (p: string): Linear => {
      const [N, K] = t.get(`${p}.w`)!.shape as [number, number];
      return { w: at(`${p}.w`), N, K, colsum: at(`${p}.colsum`), scale: at(`${p}.scale`), bias: at(`${p}.bias`) };
    };
    const norm = (p: string): Norm => ({ gamma: at(`${p}.weight`), beta: at(`${p}.bias`) });
    if (index > 0) this.close = { attnProj: linear('attn_proj'), ln2: norm('ln_2'), fc: linear('fc'), mlpProj: linear('mlp_proj') };
    this.open = index < config.n_layer ? { ln1: norm('ln_1'), qkv: linear('qkv') } : { lnf: norm('ln_f') };
  }

  run(hidden: Float32Array, attn: Float32Array | null, rows: number, T: number): Promise<SegmentOutput> {
    return Promise.resolve(this.runSync(hidden, attn, rows, T));
  }

  private runSync(hidden: Float32Array, attn: Float32Array | null, rows: number, T: number): SegmentOutput {
    if (this.released) throw new DenseSegmentError(`segment ${this.index} was released`);
    const { k, E, I } = this;
    const M = rows * T;
    if (hidden.length !== M * E || (attn && attn.length !== M * E))
      throw new DenseSegmentError(`segment ${this.index}: inputs must be [${rows}, ${T}, ${E}]`);
    const { close, open } = this;
    if ((attn !== null) !== (close !== undefined))
      throw new DenseSegmentError(`segment ${this.index}: attn_in is ${attn ? 'not expected' : 'required'}`);
    const wide = close ? I : E;
    return k.withScratch((alloc) => {
      const x = alloc(M * E * 4); // the residual stream
      const h = alloc(M * wide * 4); // a linear's input, or fc's output
      const xq = alloc(M * wide);
      const xs = alloc(M * 4);
      const zp = alloc(M * 4);
      const q = { xq, xs, zp };
      k.f32(x, M * E).set(hidden);
      const out: SegmentOutput = {};
      if (close && attn) {
        k.f32(h, M * E).set(attn);
        k.quantU7(h, M, E, xq, xs, zp);
        k.linearU7(q, M, E, close.attnProj, x, true);
        k.layerNorm(x, M, E, close.ln2.gamma, close.ln2.beta, this.eps, h);
        k.quantU7(h, M, E, xq, xs, zp);
        k.linearU7(q, M, E, close.fc, h, false); // h: [M, I]
        k.geluNew(h, M * I);
        k.quantU7(h, M, I, xq, xs, zp);
        k.linearU7(q, M, I, close.mlpProj, x, true);
        if ('qkv' in open) out.hidden = k.f32(x, M * E).slice();
      }
      if ('qkv' in open) {
        k.layerNorm(x, M, E, open.ln1.gamma, open.ln1.beta, this.eps, h);
        k.quantU7(h, M, E, xq, xs, zp);
        const qkv = alloc(M * 3 * E * 4);
        k.linearU7(q, M, E, open.qkv, qkv, false);
        out.qkv = k.f32(qkv, M * 3 * E).slice();
      } else {
        k.layerNorm(x, M, E, open.lnf.gamma, open.lnf.beta, this.eps, h);
        out.last = k.f32(h, M * E).slice();
      }
      return out;
    });
  }

  release(): Promise<void> {
    if (!this.released) {
      this.released = true;
      this.k.free(this.base);
    }
    return Promise.resolve();
  }
}

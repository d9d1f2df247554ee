/**
 * The model manifest: the contract between the writer (scripts/convert) and the reader (worker/model).
 *
 * R2 layout (and model-shards/, which mirrors it byte for byte):
 *   blobs/<sha256>                  immutable, content-addressed: ONNX graphs, weight shards, tokenizer.json
 *   models/<model-id>/manifest.json the pointer: written last, so a half-uploaded version is never visible
 *
 * Graph I/O contract, for a stage covering layers [first, end) of an n_layer model:
 *   inputs   input_ids       int64   [batch, seq]             stage 0 only
 *            hidden_in       float32 [batch, seq, n_embd]     stages > 0
 *            past_key.{i}    kv      [batch, n_head, past, head_dim]   for each layer i in the stage
 *            past_value.{i}  kv      [batch, n_head, past, head_dim]
 *            logits_index    int64   [k]                      last stage only: positions in [0, seq) to score
 *   outputs  present_key.{i}, present_value.{i}  kv [batch, n_head, past + seq, head_dim]
 *            hidden_out      float32 [batch, seq, n_embd]     every stage but the last
 *            logits          float32 [batch, k, vocab_size]   last stage only
 *            last_hidden_state float32 [batch, seq, n_embd]   last stage only (after ln_f: GPT2Model's output)
 * Positions are past .. past + seq - 1, computed inside stage 0 from past_key.{first}'s dim 2.
 * kv is float32 or float16 as `kv_dtype` says. The graph's external-data `location` of every
 * initializer is the `location` of one of the stage's shards.
 *
 * Layout `host-attention` (manifest version 2): ORT runs only the dense parts; attention with the KV
 * cache, the token/position embedding and the tied LM head run in the Worker (worker/kernels), so the
 * cache never crosses into ORT's heap. One stage with n_layer + 1 segments, one ORT graph each:
 *   segment 0      in  hidden_in [batch, seq, n_embd]  (wte[ids] + wpe[positions], computed by the host)
 *                  out qkv       [batch, seq, 3*n_embd] (ln_1 + c_attn of layer 0)
 *   segment j<L    in  hidden_in (residual before layer j-1's attention), attn_in [batch, seq, n_embd]
 *                      (layer j-1's attention, heads merged, before c_proj)
 *                  out hidden_out (residual after layer j-1), qkv (of layer j)
 *   segment L      in  hidden_in, attn_in;  out last_hidden_state (after ln_f)
 * `host` holds the tensors the host needs: wte [vocab, n_embd] (int8 + per-row scale, or float32) and
 * wpe [n_positions, n_embd] float32, each a blob of raw little-endian values.
 *
 * Kernel segments (manifest version 3, int8 only): a segment may have `kernel` instead of `graph`: the same
 * computation run by the Worker's own kernels (worker/model/dense.ts) instead of ORT, its tensors packed in
 * the segment's one shard at the listed byte offsets (16-byte aligned), raw little-endian:
 *   <p>.w [N, K] int8 (output-major, in blocks of four columns whose 16-byte chunks interleave: block b at
 *     byte 4b·K, its chunk c at 4b·K + 64c holds W[4b..4b+3][16c..16c+15] one column after another),
 *   <p>.colsum [N] int32 (Σ_k w), <p>.scale [N] float32, <p>.bias [N] float32
 *     for p in attn_proj (layer j-1's c_proj), fc, mlp_proj (j > 0) and qkv (layer j's c_attn, j < L)
 *   ln_2.weight/.bias (j > 0), ln_1.weight/.bias (j < L), ln_f.weight/.bias (j = L): float32 [n_embd]
 * Its inputs and outputs are a graph segment's. A model whose segments are all kernel segments needs no
 * ORT at all.
 */
import { z } from 'zod';

export const MANIFEST_FORMAT = 'edge-gpt2/manifest';
/** Written for the `graph` layout (version 1 readers understand it); `host-attention` needs version 2. */
export const MANIFEST_VERSION = 1;
export const MANIFEST_VERSION_HOST = 2;
/** host-attention with kernel segments. */
export const MANIFEST_VERSION_KERNELS = 3;
const SUPPORTED_VERSIONS = [MANIFEST_VERSION, MANIFEST_VERSION_HOST, MANIFEST_VERSION_KERNELS];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** A content-addressed object in the bucket: key is always `blobs/<sha256>`. */
export const BlobRef = z.object({
  key: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256,
});
export type BlobRef = z.infer<typeof BlobRef>;

/** A weight shard: ONNX external data, referenced from the graph by `location`. */
const ShardRef = BlobRef.extend({
  location: z.string().min(1),
});
export type ShardRef = z.infer<typeof ShardRef>;

/** One tensor of a kernel segment: at `offset` bytes into the segment's one shard. */
export const KernelTensor = z.object({
  name: z.string().min(1),
  dtype: z.enum(['int8', 'int32', 'float32']),
  shape: z.array(z.number().int().positive()),
  offset: z.number().int().nonnegative(),
});
export type KernelTensor = z.infer<typeof KernelTensor>;

/**
 * host-attention: the dense part between two attentions, as an ORT graph (`graph`) or as tensors for the
 * Worker's kernels (`kernel`); `shards` are locations of the stage's shards it reads (one for a kernel segment).
 */
export const Segment = z
  .object({
    graph: BlobRef.optional(),
    kernel: z.array(KernelTensor).optional(),
    shards: z.array(z.string()),
    inputs: z.array(z.string()),
    outputs: z.array(z.string()),
  })
  .refine((s) => (s.graph === undefined) !== (s.kernel === undefined), 'a segment has either `graph` or `kernel`')
  .refine((s) => s.kernel === undefined || s.shards.length === 1, 'a kernel segment reads exactly one shard');
export type Segment = z.infer<typeof Segment>;

export const Stage = z
  .object({
    /** Layers [first, end) of the transformer live in this stage. */
    layers: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]),
    /** `graph` layout: the stage's one graph. */
    graph: BlobRef.optional(),
    /** `host-attention` layout: n_layer + 1 graphs, run in order with attention in between. */
    segments: z.array(Segment).min(2).optional(),
    shards: z.array(ShardRef),
    inputs: z.array(z.string()),
    outputs: z.array(z.string()),
  })
  .refine((s) => (s.graph === undefined) !== (s.segments === undefined), 'a stage has either `graph` or `segments`');
export type Stage = z.infer<typeof Stage>;

/** A raw tensor the host (not ORT) reads: little-endian values, row-major. */
export const HostTensor = BlobRef.extend({
  dtype: z.enum(['int8', 'float32']),
  shape: z.array(z.number().int().positive()),
});
export type HostTensor = z.infer<typeof HostTensor>;

const HostParts = z.object({
  /** [vocab, n_embd]: the token embedding and (tied) LM head. */
  wte: HostTensor,
  /** [vocab] float32: per-row scale when wte is int8. */
  wte_scale: HostTensor.optional(),
  /** [n_positions, n_embd] float32. */
  wpe: HostTensor,
});
type HostParts = z.infer<typeof HostParts>;

export const ModelConfig = z.object({
  architecture: z.literal('gpt2'),
  n_layer: z.number().int().positive(),
  n_head: z.number().int().positive(),
  n_embd: z.number().int().positive(),
  n_positions: z.number().int().positive(),
  vocab_size: z.number().int().positive(),
  layer_norm_epsilon: z.number().positive(),
  bos_token_id: z.number().int().nonnegative(),
  eos_token_id: z.number().int().nonnegative(),
  /** The MLP's width when it is not 4 x n_embd (GPT2Config.n_inner); absent: 4 x n_embd. */
  n_inner: z.number().int().positive().optional(),
  /** Parameter count of the source checkpoint (tied embedding counted once). */
  parameters: z.number().int().positive(),
});
export type ModelConfig = z.infer<typeof ModelConfig>;

/** The MLP's inner width: n_inner, or 4 × n_embd when the config leaves it out (every released GPT-2). */
export function innerWidth(d: { n_embd: number; n_inner?: number | null | undefined }): number {
  return d.n_inner ?? 4 * d.n_embd;
}

const Quantization = z.object({
  method: z.enum(['fp32', 'int8', 'q4']),
  /** q4 only: block size along the input dimension. */
  block_size: z.number().int().positive().optional(),
  /**
   * int8 host-attention only: 'row' quantizes each row's activations with a scale of its own, so a row's
   * output does not depend on the other rows of a batched run; 'tensor' (absent: older manifests) uses one
   * scale per tensor (DynamicQuantizeMatMul).
   */
  activations: z.enum(['row', 'tensor']).optional(),
});

export const Manifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.number().int(),
  id: z.string().min(1),
  created_at: z.string(),
  /** Where the weights came from: checkpoint name and the converter that wrote this. */
  source: z.object({
    name: z.string(),
    converter: z.string(),
    checkpoint_sha256: sha256.optional(),
  }),
  config: ModelConfig,
  quantization: Quantization,
  kv_dtype: z.enum(['float32', 'float16']),
  /** Where attention runs: inside each stage's graph (`graph`, also when absent) or in the Worker (`host-attention`). */
  layout: z.enum(['graph', 'host-attention']).optional(),
  host: HostParts.optional(),
  tokenizer: BlobRef.extend({ format: z.literal('hf-tokenizer-json') }),
  stages: z.array(Stage).min(1),
  memory: z.object({
    /** Sum of shard bytes. */
    weights_bytes: z.number().int().nonnegative(),
    /** Converter's estimate of the WASM heap once loaded and at full context. */
    wasm_heap_estimate_bytes: z.number().int().nonnegative(),
    kv_cache_bytes_per_token: z.number().int().nonnegative(),
  }),
  /** Free-form model card facts shown on the model's page (description, license, training, eval). */
  card: z.record(z.string(), z.unknown()).optional(),
});
export type Manifest = z.infer<typeof Manifest>;

export function manifestKey(modelId: string): string {
  return `models/${modelId}/manifest.json`;
}

export function blobKey(sha: string): string {
  return `blobs/${sha}`;
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

/** Parse and check a manifest; the message says how to fix a mismatch. */
export function parseManifest(json: unknown): Manifest {
  const head = z.object({ format: z.string(), version: z.number() }).safeParse(json);
  if (!head.success || head.data.format !== MANIFEST_FORMAT) {
    throw new ManifestError(`not an ${MANIFEST_FORMAT} manifest; re-run \`npm run convert\` and upload its output`);
  }
  if (!SUPPORTED_VERSIONS.includes(head.data.version)) {
    throw new ManifestError(
      `manifest version ${head.data.version} is not supported (this Worker reads versions ${SUPPORTED_VERSIONS.join(', ')}); ` +
        're-convert the checkpoint with this release of `npm run convert`',
    );
  }
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(`invalid manifest at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`);
  }
  const m = parsed.data;
  const host = m.layout === 'host-attention';
  const fail = (why: string) => {
    throw new ManifestError(`invalid manifest: ${why}`);
  };
  if (host !== (m.host !== undefined)) fail('`host` is present exactly when layout is host-attention');
  if (host && m.version < MANIFEST_VERSION_HOST) fail(`layout host-attention needs version ${MANIFEST_VERSION_HOST}`);
  for (const st of m.stages) {
    if (host !== (st.segments !== undefined)) fail(`layout ${m.layout ?? 'graph'} stages have ${host ? '`segments`' : 'a `graph`'}`);
    if (st.segments && st.segments.length !== st.layers[1] - st.layers[0] + 1)
      fail('a host-attention stage has one segment per layer, plus one');
  }
  if (host && m.stages.length !== 1) fail('layout host-attention has exactly one stage');
  const kernelSegments = m.stages.some((st) => st.segments?.some((seg) => seg.kernel));
  if (kernelSegments && m.version < MANIFEST_VERSION_KERNELS) fail(`kernel segments need version ${MANIFEST_VERSION_KERNELS}`);
  if (kernelSegments && m.quantization.method !== 'int8') fail('kernel segments are int8 only');
  return m;
}

/** Every blob the model needs: tokenizer, host tensors, then each stage's graph(s) and shards. */
export function manifestBlobs(m: Manifest): BlobRef[] {
  const host = m.host ? [m.host.wte, ...(m.host.wte_scale ? [m.host.wte_scale] : []), m.host.wpe] : [];
  return [m.tokenizer, ...host, ...m.stages.flatMap((s) => [...stageGraphs(s), ...s.shards])];
}

/** A stage's ONNX graphs: its one graph, or its graph segments' graphs in run order (kernel segments have none). */
export function stageGraphs(s: Stage): BlobRef[] {
  return s.graph ? [s.graph] : (s.segments ?? []).flatMap((seg) => (seg.graph ? [seg.graph] : []));
}

/** The one graph of a `graph`-layout stage (tools that only understand that layout). */
export function graphOf(s: Stage): BlobRef {
  if (!s.graph) throw new ManifestError('this stage is host-attention (segments, not one graph); convert with --attention graph');
  return s.graph;
}

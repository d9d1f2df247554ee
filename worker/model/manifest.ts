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
 */
import { z } from 'zod';

export const MANIFEST_FORMAT = 'edge-gpt2/manifest';
export const MANIFEST_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** A content-addressed object in the bucket: key is always `blobs/<sha256>`. */
export const BlobRef = z.object({
  key: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256,
});
export type BlobRef = z.infer<typeof BlobRef>;

/** A weight shard: ONNX external data, referenced from the graph by `location`. */
export const ShardRef = BlobRef.extend({
  location: z.string().min(1),
});
export type ShardRef = z.infer<typeof ShardRef>;

export const Stage = z.object({
  /** Layers [first, end) of the transformer live in this stage. */
  layers: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]),
  graph: BlobRef,
  shards: z.array(ShardRef),
  inputs: z.array(z.string()),
  outputs: z.array(z.string()),
});
export type Stage = z.infer<typeof Stage>;

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
  /** Parameter count of the source checkpoint (tied embedding counted once). */
  parameters: z.number().int().positive(),
});
export type ModelConfig = z.infer<typeof ModelConfig>;

export const Quantization = z.object({
  method: z.enum(['fp32', 'int8', 'q4']),
  /** q4 only: block size along the input dimension. */
  block_size: z.number().int().positive().optional(),
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
  if (head.data.version !== MANIFEST_VERSION) {
    throw new ManifestError(
      `manifest version ${head.data.version} is not supported (this Worker reads version ${MANIFEST_VERSION}); ` +
        're-convert the checkpoint with this release of `npm run convert`',
    );
  }
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(`invalid manifest at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`);
  }
  return parsed.data;
}

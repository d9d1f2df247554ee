/**
 * The byte budget of one stage isolate, from the manifest alone (the gateway's config generator uses the
 * same arithmetic to split a model). Workers give an isolate 128 MB — WASM memories and the JS heap
 * together — and instances of one Durable Object class may share an isolate, so the budget is per isolate:
 *
 *   limit = weights          the part's shard bytes (ORT copies external data into its heap once; kernel
 *                            segments live in the kernels' memory as stored) and, for the ends, wte (+ scale)
 *                            and wpe in the kernels' memory
 *         + runtime          ORT's own heap beyond the weights (13–17 MiB measured) + the graphs; 0 for an
 *                            ends-only stage and for kernel segments (int8), which never start ORT
 *         + activations      one call of `chunk` positions: per position the residual, LayerNorm, qkv,
 *                            attention output and the 4×-wide MLP (fc + gelu) in fp32, twice (ORT's arena and
 *                            the JS copies of inputs/outputs); the ends add one row block of logits
 *         + js               the JS heap: code, the manifest, transient arrays (measured, see BENCHMARKS.md)
 *         + kv               resident caches: rows × capacity × kvBytesPerToken — what admission meters
 * WASM memory never shrinks, so each term is a peak. Prefill is cut into chunks of `chunk` positions by the
 * gateway so the activation term does not grow with the prompt.
 */
import type { Manifest } from '../model/manifest.ts';
import type { StageBudget } from './protocol.ts';

export const MB = 2 ** 20;
/** Workers' isolate limit. */
export const ISOLATE_LIMIT_BYTES = 128 * MB;
/**
 * ORT-web's heap beyond the weights it holds: measured 13–17 MiB in stage isolates (GPT-2 small 2–3 layers
 * after decoding, XL 2 layers after loading; BENCHMARKS.md): its runtime plus growth slack.
 */
const ORT_RUNTIME_BYTES = 16 * MB;
/** JS heap allowance of a stage isolate (the bundle's code, ORT's JS, transient arrays): measured 3–7 MiB. */
const STAGE_JS_BYTES = 8 * MB;
/** Positions per forward call through the stages (the gateway cuts longer prefills). */
export const STAGE_CHUNK = 64;
/** Rows the ends' head scores in one call (n sequences × positions); more is cut by the gateway. */
export const HEAD_ROWS = 8;

export interface PartSpec {
  layers: [number, number] | null;
  ends: boolean;
}

/** Bytes the part's blobs occupy once loaded: host tensors (ends) + its segments' graphs and shards. */
function partWeightBytes(m: Manifest, spec: PartSpec): { weights: number; graphs: number } {
  const stage = m.stages[0]!;
  const segs = stage.segments ?? [];
  const L = m.config.n_layer;
  const bytesOf = new Map(stage.shards.map((s) => [s.location, s.bytes]));
  let weights = 0;
  let graphs = 0;
  if (spec.ends && m.host) weights += m.host.wte.bytes + (m.host.wte_scale?.bytes ?? 0) + m.host.wpe.bytes;
  if (spec.layers) {
    const [first, end] = spec.layers;
    const idx = [...Array(end - first).keys()].map((i) => first + i);
    if (end === L) idx.push(L);
    for (const j of idx) {
      const seg = segs[j];
      if (!seg) continue;
      if (seg.graph) graphs += seg.graph.bytes;
      for (const loc of seg.shards) weights += bytesOf.get(loc) ?? 0;
    }
  }
  return { weights, graphs };
}

export function stageBudget(m: Manifest, spec: PartSpec, limitBytes = ISOLATE_LIMIT_BYTES, kvCapBytes?: number): StageBudget {
  const { n_embd: E, vocab_size: V } = m.config;
  const { weights, graphs } = partWeightBytes(m, spec);
  const layers = spec.layers ? spec.layers[1] - spec.layers[0] : 0;
  const runtimeBytes = graphs > 0 ? ORT_RUNTIME_BYTES + graphs : 0; // ORT starts only for graph segments
  const perPosition = 4 * (E * (1 + 1 + 3 + 1) + 4 * E * 2);
  const activationBytes = (spec.layers ? 2 * STAGE_CHUNK * perPosition : 0) + (spec.ends ? 4 * HEAD_ROWS * (V + E) : 0);
  const jsBytes = STAGE_JS_BYTES;
  const free = limitBytes - weights - runtimeBytes - activationBytes - jsBytes;
  const kvBudgetBytes = Math.max(0, Math.min(free, kvCapBytes ?? Infinity));
  return { limitBytes, weightsBytes: weights, runtimeBytes, activationBytes, jsBytes, kvBudgetBytes, kvBytesPerToken: layers * 2 * E * 4 };
}

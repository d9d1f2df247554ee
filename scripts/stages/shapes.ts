/**
 * The manifest a host-attention int8 (or fp32) conversion of a GPT-2 shape would have — int8 with kernel
 * segments (the converter's default: no ORT graph, no ORT heap to budget), fp32 with graph segments — with blob sizes
 * computed from the shapes instead of converted: lets `npm run stages -- --preset gpt2-xl` plan a model
 * before anyone downloads or converts it. Sizes follow the converter (scripts/convert/host-graph.ts,
 * weights.ts): per layer the four linears (3E² + E² + 4E² + 4E² weights, int8 with per-column fp32 scales
 * and, for per-row activations, int32 column sums), fp32 biases and LayerNorms; host wte int8 [V, E] + scale [V] (or fp32), wpe fp32 [P, E]. A test checks
 * them against a real conversion.
 */
import type { Manifest } from '../../worker/model/manifest.ts';
import type { Gpt2Dims } from '../lib/gpt2-names.ts';

const GRAPH_BYTES = 12_000; // a segment's ONNX graph without its weights

export function segmentBytes(d: Gpt2Dims, j: number, quant: 'int8' | 'fp32'): number {
  const E = d.n_embd;
  const w = (k: number, n: number) => (quant === 'int8' ? k * n + 4 * n + 4 * n : 4 * k * n) + 4 * n; // weight (+ scales, column sums) + bias
  let bytes = 0;
  if (j > 0) bytes += w(E, E) + 4 * 2 * E + w(E, 4 * E) + w(4 * E, E); // c_proj, ln_2, c_fc, mlp.c_proj of layer j-1
  if (j < d.n_layer)
    bytes += 4 * 2 * E + w(E, 3 * E); // ln_1, c_attn of layer j
  else bytes += 4 * 2 * E; // ln_f
  return bytes;
}

export function estimatedManifest(d: Gpt2Dims, id: string, quant: 'int8' | 'fp32' = 'int8'): Manifest {
  const ref = (n: number, bytes: number) => ({
    key: `blobs/${n.toString(16).padStart(64, '0')}`,
    bytes,
    sha256: n.toString(16).padStart(64, '0'),
  });
  const L = d.n_layer;
  const segments = Array.from({ length: L + 1 }, (_, j) => ({
    ...(quant === 'int8' ? { kernel: [] } : { graph: ref(1000 + j, GRAPH_BYTES) }),
    shards: [`s${j}.bin`],
    inputs: [],
    outputs: [],
  }));
  const shards = segments.map((_, j) => ({ ...ref(2000 + j, segmentBytes(d, j, quant)), location: `s${j}.bin` }));
  const V = d.vocab_size;
  const E = d.n_embd;
  const host = {
    wte: {
      ...ref(1, quant === 'int8' ? V * E : 4 * V * E),
      dtype: quant === 'int8' ? ('int8' as const) : ('float32' as const),
      shape: [V, E],
    },
    ...(quant === 'int8' ? { wte_scale: { ...ref(2, 4 * V), dtype: 'float32' as const, shape: [V] } } : {}),
    wpe: { ...ref(3, 4 * d.n_positions * E), dtype: 'float32' as const, shape: [d.n_positions, E] },
  };
  const weights = shards.reduce((n, s) => n + s.bytes, 0) + host.wte.bytes + (host.wte_scale?.bytes ?? 0) + host.wpe.bytes;
  return {
    format: 'edge-gpt2/manifest',
    version: quant === 'int8' ? 3 : 2,
    id,
    created_at: new Date(0).toISOString(),
    source: { name: id, converter: 'estimate' },
    config: {
      architecture: 'gpt2',
      ...d,
      n_inner: d.n_inner ?? undefined,
      layer_norm_epsilon: 1e-5,
      bos_token_id: V - 1,
      eos_token_id: V - 1,
      parameters: 1,
    },
    quantization: quant === 'int8' ? { method: quant, activations: 'row' } : { method: quant },
    kv_dtype: 'float32',
    layout: 'host-attention',
    host,
    tokenizer: { ...ref(4, 1), format: 'hf-tokenizer-json' },
    stages: [{ layers: [0, L], segments, shards, inputs: [], outputs: [] }],
    memory: { weights_bytes: weights, wasm_heap_estimate_bytes: 0, kv_cache_bytes_per_token: 2 * L * E * 4 },
  };
}

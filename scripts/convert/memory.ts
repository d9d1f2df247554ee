/**
 * The manifest's runtime-memory estimate: what onnxruntime-web's WASM heap will hold for this model.
 *
 *   heap ≈ weights                   every stage's shard bytes (ORT copies external data into the heap once)
 *        + head copy                 int8 only: the tied embedding is both Gather'ed (kept as stored) and
 *                                    prepacked by DynamicQuantizeMatMul for the head (a second int8 copy)
 *        + kv at full context        kv_cache_bytes_per_token x n_positions (one sequence)
 *        + activations               a full-context prefill: per token the residual, LayerNorm, qkv, attention
 *                                    output and the MLP (fc + gelu, n_inner wide) in fp32, plus the attention scores
 *                                    [n_head, ctx, ctx] of one layer and one row of logits
 *        + q4 scratch                MatMulNBits dequantizes B to fp32 per call: the biggest slice
 *        + runtime                   ORT's own allocations, ~8 MB measured on the WASM build (none when the
 *                                    dense layers run in our kernels: no ORT session is ever created)
 * WASM memory never shrinks, so the peak is what stays. It is an estimate; the Worker measures the real
 * `memory.buffer.byteLength`.
 */
import { innerWidth } from '../../worker/model/manifest.ts';
import type { Gpt2Config } from './checkpoint.ts';
import type { QuantMethod } from './weights.ts';

export function kvBytesPerToken(c: Gpt2Config, kv: 'float32' | 'float16'): number {
  return 2 * c.n_layer * c.n_embd * (kv === 'float16' ? 2 : 4); // key + value, every layer
}

export function wasmHeapEstimate(
  c: Gpt2Config,
  quant: QuantMethod,
  weightsBytes: number,
  kv: 'float32' | 'float16',
  headChunks: number,
  attention: 'graph' | 'host' = 'graph',
  dense: 'kernels' | 'ort' = 'ort',
): number {
  const E = c.n_embd;
  const ctx = c.n_positions;
  // host-attention: the head is read by our kernel as stored (no prepacked copy); weights + KV live in the
  // kernels' memory instead of ORT's, which this estimate counts together.
  const headCopy = quant === 'int8' && attention === 'graph' ? c.vocab_size * E : 0;
  const kvFull = kvBytesPerToken(c, kv) * ctx;
  const I = innerWidth(c);
  const perToken = E * (1 + 1 + 3 + 1) + I * 2; // residual, ln, qkv, attn out, fc + gelu
  const activations = 4 * (ctx * perToken + c.n_head * ctx * ctx + c.vocab_size);
  const q4Scratch = quant === 'q4' ? 4 * E * Math.max(I, Math.ceil(c.vocab_size / headChunks)) : 0; // fp32 [n_embd, widest N]
  const runtime = dense === 'ort' ? 8 * 1024 * 1024 : 0; // kernel segments never start ORT
  return weightsBytes + headCopy + kvFull + activations + q4Scratch + runtime;
}

/**
 * A prior for the CPU meter from a model's shape, so a Worker serving several models (or a bigger
 * checkpoint) starts from a sensible estimate before the meter can calibrate (and in workerd, where
 * the clock is frozen during CPU work, it never can: the prior is all there is).
 *
 * Decode work per token is dominated by the matmuls: ≈ 12·n_layer·n_embd² multiply-adds for the
 * blocks plus n_embd·vocab for the tied LM head. GPT-2 small (124 M MACs/token) int8 decodes at
 * ≈ 40 ms/token in the Worker's WASM build (BENCHMARKS.md: 38–52 ms at 32–512 tokens of context). q4
 * (dequantised on every call) is charged 10× (it measured 260–420 ms/token in an earlier build, not
 * re-measured here); fp32 was not measured and is assumed 2× int8. Per cached position, attention reads
 * the cache (2·n_layer·n_embd floats), and in the in-graph layout ORT also copies it into and out of its
 * heap on every run: ~0.1 ms per position for GPT-2 small, an upper bound for host attention, whose
 * cache stays in the kernels' memory (docs/ARCHITECTURE.md).
 * Prefill amortises each weight over the prompt: charged at 1/5 of a decode token per prompt token.
 */
import type { CostPrior } from './cpu-meter.ts';

export interface ModelShape {
  n_layer: number;
  n_embd: number;
  vocab_size: number;
  /** MLP width; absent: 4·n_embd (then a block is the 12·n_embd² above). */
  n_inner?: number | null;
}

export type QuantizationMethod = 'fp32' | 'int8' | 'q4';

const GPT2_SMALL_MACS = 12 * 12 * 768 * 768 + 768 * 50257;
const INT8_MS_PER_GPT2_SMALL_TOKEN = 40;
const SLOWDOWN: Record<QuantizationMethod, number> = { int8: 1, fp32: 2, q4: 10 };
const MS_PER_KV_POSITION_GPT2_SMALL = 0.1;

export function costPriorFor(shape: ModelShape, method: QuantizationMethod): CostPrior {
  const E = shape.n_embd;
  const block = 4 * E * E + 2 * E * (shape.n_inner ?? 4 * E); // qkv + attention out, then the MLP's two matmuls
  const macs = shape.n_layer * block + E * shape.vocab_size;
  const msPerNewToken = (INT8_MS_PER_GPT2_SMALL_TOKEN * SLOWDOWN[method] * macs) / GPT2_SMALL_MACS;
  return {
    fixedMs: 1,
    msPerNewToken,
    msPerPrefillToken: msPerNewToken / 5,
    msPerPastPosition: (MS_PER_KV_POSITION_GPT2_SMALL * shape.n_layer * shape.n_embd) / (12 * 768),
  };
}

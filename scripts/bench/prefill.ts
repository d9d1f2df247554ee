/**
 * The prefill the Worker does (worker/generation/generate.ts): PREFILL_CHUNK positions per forward, each
 * extending the cache of the one before, with the cache's final length as a capacity hint. Benchmarks
 * prefill the same way so the heap they report is the Worker's (ORT's arena keeps the largest chunk).
 */
import { PREFILL_CHUNK } from '../../worker/generation/prompt.ts';
import type { CausalLM, ForwardResult, KVCache } from '../../worker/generation/types.ts';

export async function prefill(lm: CausalLM, ids: readonly number[], decodeSteps: number): Promise<ForwardResult> {
  const capacity = Math.min(lm.config.nPositions, ids.length + decodeSteps);
  let cache: KVCache | null = null;
  let r: ForwardResult | undefined;
  for (let s = 0; s < ids.length; s += PREFILL_CHUNK) {
    r = await lm.forward({ inputIds: [ids.slice(s, s + PREFILL_CHUNK)], cache, logitsFor: 'last', capacity });
    cache = r.cache;
  }
  if (!r) throw new RangeError('prefill needs at least one token');
  return r;
}

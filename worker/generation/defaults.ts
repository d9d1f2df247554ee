/** Neutral defaults; each dialect maps its own defaults onto GenerationParams (see worker/routes). */
import type { CostPrior } from './cpu-meter.ts';
import type { GenerationParams } from './types.ts';

/**
 * Greedy decoding of 20 new tokens (HF `GenerationConfig`'s max_length-style default), no penalties,
 * seed 0. Sampling knobs are neutral: HF's generation_config defaults top_k to 50, but OpenAI and TGI
 * do not, so a route that emulates HF sets topK: 50 itself.
 */
export function defaultParams(): GenerationParams {
  return {
    maxNewTokens: 20,
    doSample: false,
    temperature: 1,
    topK: 0,
    topP: 1,
    typicalP: 1,
    repetitionPenalty: 1,
    presencePenalty: 0,
    frequencyPenalty: 0,
    logitBias: new Map(),
    seed: 0,
    stop: [],
    stopOnEos: true,
    numSequences: 1,
    topLogprobs: 0,
    promptLogprobs: false,
    cpuBudgetMs: 25_000,
  };
}

/**
 * Conservative cost of a forward for the CPU meter, from DESIGN §2's measurements of the GPT-2-small
 * shape in the WASM build (int8 ≈ 40 ms/token at 32 past, slower at 512 past; prefill amortises the
 * weights over the prompt). Smaller models are cheaper: the meter calibrates down where the clock
 * advances, and in a Worker (frozen clock) this prior is what keeps a request under the CPU limit.
 */
export const DEFAULT_COST_PRIOR: CostPrior = {
  fixedMs: 2,
  msPerNewToken: 40,
  msPerPrefillToken: 8,
  msPerPastPosition: 0.1,
};

/** Neutral defaults; each dialect maps its own defaults onto GenerationParams (see worker/dialects/shared/params.ts). */
import { costPriorFor } from './cost-prior.ts';
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

/** The CPU meter's prior when the caller gives none: GPT-2 small (124 M) int8, see cost-prior.ts. */
export const DEFAULT_COST_PRIOR: CostPrior = costPriorFor({ n_layer: 12, n_embd: 768, vocab_size: 50257 }, 'int8');

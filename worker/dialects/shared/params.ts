/**
 * What every dialect's parameters map onto (GenerationParams), and the bounds they share.
 *
 * Parameter mapping (same seed + same mapped values ⇒ the same text on every route):
 *
 * | GenerationParams   | TGI /generate*            | HF /models/:id                | OpenAI /v1/completions         |
 * |--------------------|---------------------------|-------------------------------|--------------------------------|
 * | maxNewTokens       | max_new_tokens (100)      | max_new_tokens (50)           | max_tokens (16)                |
 * | doSample           | do_sample (false)         | do_sample (true: gpt2's HF    | temperature > 0 (temperature   |
 * |                    |                           |   task params sampled)        |   0 = greedy; default 1)       |
 * | temperature        | temperature (1)           | temperature (1)               | temperature (1)                |
 * | topK               | top_k (off)               | top_k (50 = transformers)     | top_k (off; vLLM extension)    |
 * | topP               | top_p (1)                 | top_p (1)                     | top_p (1)                      |
 * | typicalP           | typical_p (1)             | —                             | —                              |
 * | repetitionPenalty  | repetition_penalty (1)    | repetition_penalty (1)        | repetition_penalty (vLLM ext.) |
 * | presencePenalty    | —                         | —                             | presence_penalty (0)           |
 * | frequencyPenalty   | frequency_penalty (0)     | —                             | frequency_penalty (0)          |
 * | logitBias          | —                         | —                             | logit_bias                     |
 * | seed               | seed (drawn if absent)    | seed (drawn if absent)        | seed (drawn if absent)         |
 * | stop               | stop (≤ 4)                | stop (≤ 4)                    | stop (string | ≤ 4 strings)    |
 * | numSequences       | best_of (1)               | num_return_sequences (1)      | n (1) [× prompts]              |
 * | topLogprobs        | top_n_tokens (0, ≤ 5)     | —                             | logprobs (0–5)                 |
 * | promptLogprobs     | decoder_input_details     | —                             | echo && logprobs != null       |
 * | cpuBudgetMs        | CPU_BUDGET_MS             | min(max_time, CPU_BUDGET_MS)  | CPU_BUDGET_MS                  |
 *
 * A seed the client does not send is drawn from crypto.getRandomValues and reported (TGI details.seed).
 */
import { z } from 'zod';
import { baseParams } from '../../service/params.ts';

export { baseParams };

export const MAX_SEQUENCES = 8;
export const MAX_STOP_SEQUENCES = 4;
export const MAX_STOP_LENGTH = 256;
export const MAX_TOP_N = 5;
/** Token ids in one prompt given as ids (OpenAI completions and embeddings). */
export const MAX_PROMPT_IDS = 4096;

/** HF's `options` (generation and feature extraction): `use_cache` is ignored, nothing is cached. */
export const HfOptions = z.object({
  use_cache: z.boolean().nullish(),
  wait_for_model: z.boolean().nullish(),
});

/** A finite JSON number (zod 4 already refuses ±Infinity from `1e400`). */
export const num = () => z.number();
/** Integers beyond 2^53 are allowed where the dialect has u64/i64 fields (seeds); see `reduceSeed`. */
export const anyInt = () => z.number().refine(Number.isInteger, '$ must be an integer');

/** A seed as HF and OpenAI take it: any integer in i64..u64 (TGI's is u64 only); reduced by `reduceSeed`. */
export const signedSeed = () =>
  anyInt().pipe(
    z
      .number()
      .gte(-(2 ** 63))
      .lte(2 ** 64),
  );

export const stopList = z.array(z.string().min(1).max(MAX_STOP_LENGTH)).max(MAX_STOP_SEQUENCES);

/** A random seed in [0, 2^53): what we use (and report) when the client sends none. */
export function drawSeed(): number {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (w[0]! & 0x1fffff) * 0x1_0000_0000 + w[1]!;
}

/**
 * Seeds arrive as u64 (TGI) or i64 (OpenAI); generation takes a safe integer. Reduce modulo 2^53
 * (exact in float arithmetic), folding negatives into range, so every integer maps to one seed.
 */
export function reduceSeed(seed: number): number {
  const m = 2 ** 53;
  const r = seed % m;
  return r < 0 ? r + m : r;
}

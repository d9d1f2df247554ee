/**
 * TGI's GenerateRequest (router/src/lib.rs GenerateParameters): every parameter is optional and
 * nullable; unknown fields are ignored (serde's default). Bounds follow TGI's validation.rs, except
 * top_p/typical_p = 1.0 are accepted (as "off") where TGI insists on < 1.0.
 */
import { z } from 'zod';
import { ApiError } from '../../http/errors.ts';
import { parseWith } from '../../http/validate.ts';
import { anyInt, baseParams, drawSeed, MAX_SEQUENCES, MAX_TOP_N, num, reduceSeed, stopList } from '../shared/params.ts';
import type { GenerationParams, ServerConfig } from '../../service/types.ts';

export const TgiParameters = z.object({
  best_of: z.int().min(1).max(MAX_SEQUENCES).nullish(),
  decoder_input_details: z.boolean().nullish(),
  details: z.boolean().nullish(),
  do_sample: z.boolean().nullish(),
  frequency_penalty: num().gt(-2).lte(2).nullish(),
  max_new_tokens: z.int().min(1).nullish(),
  repetition_penalty: num().gt(0).nullish(),
  return_full_text: z.boolean().nullish(),
  seed: anyInt()
    .pipe(
      z
        .number()
        .min(0)
        .lte(2 ** 64),
    )
    .nullish(),
  stop: stopList.nullish(),
  temperature: num().gt(0).nullish(),
  top_k: z.int().min(1).nullish(),
  top_n_tokens: z.int().min(0).max(MAX_TOP_N).nullish(),
  top_p: num().gt(0).lte(1).nullish(),
  truncate: z.int().min(1).nullish(),
  typical_p: num().gt(0).lte(1).nullish(),
  watermark: z.boolean().nullish(),
  grammar: z.unknown().optional(),
});
export type TgiParameters = z.infer<typeof TgiParameters>;

export const TgiRequest = z.object({
  inputs: z.string(),
  parameters: TgiParameters.nullish(),
  stream: z.boolean().nullish(),
});
export type TgiRequest = z.infer<typeof TgiRequest>;

export interface TgiPlan {
  inputs: string;
  params: GenerationParams;
  /** What details.seed reports: the seed when sampling, null when greedy (TGI). */
  reportedSeed: number | null;
  details: boolean;
  decoderInputDetails: boolean;
  returnFullText: boolean;
  bestOf: number;
  truncate: number | null;
}

const TGI_DEFAULT_MAX_NEW_TOKENS = 100;

export function parseTgiRequest(body: unknown): TgiRequest {
  return parseWith(TgiRequest, body);
}

/** Validated TGI parameters → GenerationParams, with the checks that need the server's limits. */
export function planTgi(
  inputs: string,
  p: TgiParameters | null | undefined,
  config: ServerConfig,
  opts: { stream: boolean; field?: string },
): TgiPlan {
  const at = opts.field ?? 'parameters';
  const q = p ?? {};
  const fail = (field: string, msg: string) => {
    throw new ApiError('validation', `${at}.${field} ${msg}`, { param: `${at}.${field}` });
  };
  if (inputs.length === 0) throw new ApiError('validation', 'inputs must not be empty', { param: 'inputs' });
  if (q.watermark) fail('watermark', 'is not supported by this server');
  if (q.grammar !== undefined && q.grammar !== null) fail('grammar', 'is not supported by this server');
  const maxNew = q.max_new_tokens ?? Math.min(TGI_DEFAULT_MAX_NEW_TOKENS, config.limits.maxNewTokens);
  if (maxNew > config.limits.maxNewTokens) {
    fail('max_new_tokens', `must be <= ${config.limits.maxNewTokens} (MAX_NEW_TOKENS), got ${maxNew}`);
  }
  if (q.truncate != null && q.truncate > config.limits.maxInputTokens) {
    fail('truncate', `must be <= ${config.limits.maxInputTokens} (MAX_INPUT_TOKENS)`);
  }
  const bestOf = q.best_of ?? 1;
  const doSample = q.do_sample ?? false;
  if (bestOf > 1) {
    if (opts.stream) fail('best_of', 'must be 1 when streaming');
    if (!doSample) fail('best_of', '> 1 requires do_sample: true');
    if (q.seed != null) fail('seed', 'must not be set when best_of > 1');
  }
  if (opts.stream && q.decoder_input_details) fail('decoder_input_details', 'is not supported when streaming');
  const seed = q.seed ?? drawSeed();
  const params: GenerationParams = {
    ...baseParams(config.cpuBudgetMs),
    maxNewTokens: maxNew,
    doSample,
    temperature: q.temperature ?? 1,
    topK: q.top_k ?? 0,
    topP: q.top_p ?? 1,
    typicalP: q.typical_p ?? 1,
    repetitionPenalty: q.repetition_penalty ?? 1,
    frequencyPenalty: q.frequency_penalty ?? 0,
    seed: reduceSeed(seed),
    stop: q.stop ?? [],
    numSequences: bestOf,
    topLogprobs: q.top_n_tokens ?? 0,
    promptLogprobs: q.decoder_input_details ?? false,
  };
  return {
    inputs,
    params,
    reportedSeed: doSample ? seed : null,
    details: q.details ?? false,
    decoderInputDetails: q.decoder_input_details ?? false,
    returnFullText: q.return_full_text ?? false,
    bestOf,
    truncate: q.truncate ?? null,
  };
}

/**
 * The hosted Hugging Face Inference API's text-generation contract (the retired api-inference for
 * `gpt2`): `{"inputs", "parameters", "options", "stream"}` or a bare JSON string. Unknown fields are
 * ignored, as that API did. Defaults are the ones gpt2 had there: sampling on (its
 * task_specific_params), top_k 50 (transformers' default), return_full_text true.
 */
import { z } from 'zod';
import { ApiError } from '../../http/errors.ts';
import { parseWith } from '../../http/validate.ts';
import { baseParams, drawSeed, HfOptions, MAX_SEQUENCES, num, reduceSeed, signedSeed, stopList } from '../shared/params.ts';
import type { GenerationParams, ServerConfig } from '../../service/types.ts';

const HfParameters = z.object({
  max_new_tokens: z.int().min(1).nullish(),
  max_time: num().gt(0).nullish(),
  temperature: num().min(0).lte(100).nullish(),
  top_k: z.int().min(0).nullish(),
  top_p: num().gt(0).lte(1).nullish(),
  repetition_penalty: num().gt(0).lte(100).nullish(),
  do_sample: z.boolean().nullish(),
  num_return_sequences: z.int().min(1).max(MAX_SEQUENCES).nullish(),
  return_full_text: z.boolean().nullish(),
  seed: signedSeed().nullish(),
  stop: stopList.nullish(),
  details: z.boolean().nullish(),
});

export const HfRequest = z.object({
  inputs: z.string(),
  parameters: HfParameters.nullish(),
  options: HfOptions.nullish(),
  stream: z.boolean().nullish(),
});
export type HfRequest = z.infer<typeof HfRequest>;

const HF_DEFAULT_MAX_NEW_TOKENS = 50;
const HF_DEFAULT_TOP_K = 50;

export interface HfPlan {
  inputs: string;
  params: GenerationParams;
  reportedSeed: number | null;
  returnFullText: boolean;
  details: boolean;
  stream: boolean;
  waitForModel: boolean;
}

export function parseHfRequest(body: unknown): HfRequest {
  // `-d '"json encoded string"'`: the whole body is the input.
  return parseWith(HfRequest, typeof body === 'string' ? { inputs: body } : body);
}

export function planHf(req: HfRequest, config: ServerConfig): HfPlan {
  const q = req.parameters ?? {};
  const fail = (field: string, msg: string): never => {
    throw new ApiError('validation', `parameters.${field} ${msg}`, { param: `parameters.${field}` });
  };
  if (req.inputs.length === 0) throw new ApiError('validation', 'inputs must not be empty', { param: 'inputs' });
  const maxNew = q.max_new_tokens ?? Math.min(HF_DEFAULT_MAX_NEW_TOKENS, config.limits.maxNewTokens);
  if (maxNew > config.limits.maxNewTokens) {
    fail('max_new_tokens', `must be <= ${config.limits.maxNewTokens} (MAX_NEW_TOKENS), got ${maxNew}`);
  }
  // temperature 0 means greedy (as OpenAI), rather than transformers' division by zero.
  const doSample = (q.do_sample ?? true) && q.temperature !== 0;
  const n = q.num_return_sequences ?? 1;
  if (n > 1 && !doSample) fail('num_return_sequences', '> 1 requires sampling (do_sample: true)');
  const stream = req.stream ?? false;
  if (stream && n > 1) fail('num_return_sequences', 'must be 1 when streaming');
  const seed = q.seed ?? drawSeed();
  const cpuBudgetMs = q.max_time != null ? Math.min(config.cpuBudgetMs, q.max_time * 1000) : config.cpuBudgetMs;
  return {
    inputs: req.inputs,
    params: {
      ...baseParams(cpuBudgetMs),
      maxNewTokens: maxNew,
      doSample,
      temperature: doSample ? (q.temperature ?? 1) : 1,
      topK: q.top_k ?? HF_DEFAULT_TOP_K,
      topP: q.top_p ?? 1,
      repetitionPenalty: q.repetition_penalty ?? 1,
      seed: reduceSeed(seed),
      stop: q.stop ?? [],
      numSequences: n,
    },
    reportedSeed: doSample ? seed : null,
    returnFullText: q.return_full_text ?? true,
    details: q.details ?? false,
    stream,
    waitForModel: req.options?.wait_for_model ?? false,
  };
}

/**
 * OpenAI legacy completions request (openai v6 CompletionCreateParamsBase). Unknown fields are ignored
 * (as vLLM and TGI do) rather than rejected (as api.openai.com does): @huggingface/inference sends
 * HF-style extras to this route. vLLM's `top_k` and `repetition_penalty` extensions are honoured.
 * Not supported (400): `suffix`. `best_of` > n is served by generating best_of sequences and keeping
 * the n with the highest cumulative logprob (not with stream, as OpenAI).
 */
import { z } from 'zod';
import { ApiError } from '../../http/errors.ts';
import { parseWith } from '../../http/validate.ts';
import {
  baseParams,
  drawSeed,
  MAX_PROMPT_IDS,
  MAX_SEQUENCES,
  MAX_STOP_LENGTH,
  MAX_STOP_SEQUENCES,
  MAX_TOP_N,
  num,
  reduceSeed,
  signedSeed,
} from '../shared/params.ts';
import type { GenerationParams, ServerConfig } from '../../service/types.ts';

const MAX_PROMPTS = 8;
const MAX_LOGIT_BIAS = 300;
const OPENAI_DEFAULT_MAX_TOKENS = 16;

const tokenId = z.int().min(0);
export const OpenAiRequest = z.object({
  model: z.string().max(2000).nullish(),
  prompt: z
    .union([
      z.string(),
      z.array(z.string()).min(1).max(MAX_PROMPTS),
      z.array(tokenId).min(1).max(MAX_PROMPT_IDS),
      z.array(z.array(tokenId).min(1).max(MAX_PROMPT_IDS)).min(1).max(MAX_PROMPTS),
    ])
    .nullable(),
  suffix: z.string().nullish(),
  max_tokens: z.int().min(0).nullish(),
  temperature: num().min(0).lte(2).nullish(),
  top_p: num().min(0).lte(1).nullish(),
  top_k: z.int().min(-1).nullish(),
  repetition_penalty: num().gt(0).lte(100).nullish(),
  n: z.int().min(1).max(MAX_SEQUENCES).nullish(),
  best_of: z.int().min(1).max(MAX_SEQUENCES).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  logprobs: z.int().min(0).max(MAX_TOP_N).nullish(),
  echo: z.boolean().nullish(),
  stop: z.union([z.string().max(MAX_STOP_LENGTH), z.array(z.string().max(MAX_STOP_LENGTH)).max(MAX_STOP_SEQUENCES)]).nullish(),
  presence_penalty: num().min(-2).lte(2).nullish(),
  frequency_penalty: num().min(-2).lte(2).nullish(),
  logit_bias: z
    .record(z.string().regex(/^\d{1,9}$/, '$ keys must be token ids'), num().min(-100).lte(100))
    .refine((r) => Object.keys(r).length <= MAX_LOGIT_BIAS, `$ must have at most ${MAX_LOGIT_BIAS} entries`)
    .nullish(),
  seed: signedSeed().nullish(),
  user: z.string().nullish(),
});
export type OpenAiRequest = z.infer<typeof OpenAiRequest>;

export interface OpenAiPlan {
  prompts: (string | number[])[];
  params: GenerationParams;
  /** Choices per prompt. */
  n: number;
  /** The seed as the client sent it (or as drawn), for reporting. */
  reportedSeed: number;
  echo: boolean;
  logprobs: number | null;
  stream: boolean;
  includeUsage: boolean;
}

export function parseOpenAiRequest(body: unknown): OpenAiRequest {
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && !('prompt' in body)) {
    throw new ApiError('validation', 'prompt is required', { param: 'prompt', code: 'missing_required_parameter' });
  }
  return parseWith(OpenAiRequest, body);
}

export function planOpenAi(req: OpenAiRequest, config: ServerConfig): OpenAiPlan {
  const fail = (param: string, msg: string, code: string | null = null): never => {
    throw new ApiError('validation', `${param} ${msg}`, { param, code });
  };
  if (req.suffix != null && req.suffix !== '') fail('suffix', 'is not supported by this server');
  const maxTokens = req.max_tokens ?? Math.min(OPENAI_DEFAULT_MAX_TOKENS, config.limits.maxNewTokens);
  if (maxTokens > config.limits.maxNewTokens) {
    fail('max_tokens', `must be <= ${config.limits.maxNewTokens} (MAX_NEW_TOKENS), got ${maxTokens}`, 'integer_above_max_value'); // issue 16: over-limit errors carry a code
  }
  const n = req.n ?? 1;
  const bestOf = req.best_of ?? n;
  if (bestOf < n) fail('best_of', `must be >= n (${n})`);
  const stream = req.stream ?? false;
  if (stream && bestOf !== n) fail('best_of', 'cannot be used with stream');
  if (req.stream_options != null && !stream) fail('stream_options', 'is only allowed when stream is true');
  const prompts = normalizePrompts(req.prompt);
  if (prompts.length * bestOf > MAX_SEQUENCES * 2) {
    fail('n', `times the number of prompts must be <= ${MAX_SEQUENCES * 2}`, 'integer_above_max_value'); // issue 16: over-limit errors carry a code
  }
  const temperature = req.temperature ?? 1;
  // temperature 0 (or top_p 0, an empty nucleus) is greedy decoding, as OpenAI and vLLM treat it.
  const doSample = temperature > 0 && req.top_p !== 0;
  const seed = req.seed ?? drawSeed();
  const logitBias = new Map<number, number>();
  for (const [k, v] of Object.entries(req.logit_bias ?? {})) logitBias.set(Number(k), v);
  const echo = req.echo ?? false;
  const logprobs = req.logprobs ?? null;
  return {
    prompts,
    params: {
      ...baseParams(config.cpuBudgetMs),
      maxNewTokens: maxTokens,
      doSample,
      temperature: doSample ? temperature : 1,
      topK: req.top_k != null && req.top_k > 0 ? req.top_k : 0,
      topP: doSample ? (req.top_p ?? 1) : 1,
      repetitionPenalty: req.repetition_penalty ?? 1,
      presencePenalty: req.presence_penalty ?? 0,
      frequencyPenalty: req.frequency_penalty ?? 0,
      logitBias,
      seed: reduceSeed(seed),
      stop: (typeof req.stop === 'string' ? [req.stop] : (req.stop ?? [])).filter((s) => s.length > 0),
      numSequences: bestOf,
      topLogprobs: logprobs ?? 0,
      promptLogprobs: echo && logprobs !== null,
    },
    n,
    reportedSeed: seed,
    echo,
    logprobs,
    stream,
    includeUsage: stream && (req.stream_options?.include_usage ?? false),
  };
}

function normalizePrompts(p: OpenAiRequest['prompt']): (string | number[])[] {
  if (p === null) return [''];
  if (typeof p === 'string') return [p];
  if (typeof p[0] === 'number') return [p as number[]];
  return p as string[] | number[][];
}

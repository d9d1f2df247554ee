/**
 * Requests for the feature routes: the HF Inference API's feature-extraction task and OpenAI's
 * embeddings. Unknown fields are ignored, as on the generation routes.
 *
 * HF  POST /pipeline/feature-extraction/:model
 *   `{"inputs": string | string[], "parameters"?, "options"?}` or a bare JSON string. TEI's fields
 *   (`truncate`, `truncation_direction`, `normalize`, which @huggingface/inference sends at the top
 *   level) are read at the top level or in `parameters` (transformers' pipeline kwarg `truncation` is
 *   an alias of `truncate`). `prompt_name` → 400 (no prompts are configured). `normalize` defaults to
 *   false: these are GPT2Model's raw hidden states, not a sentence-embedding model's pooled output.
 * OpenAI  POST /v1/embeddings
 *   `input` string | string[] | token ids | lists of token ids, `model`, `encoding_format`
 *   float|base64, `dimensions` (only n_embd is served: checked against the model), `user` ignored.
 *   Extension (TEI/vLLM): `normalize` L2-normalizes the mean-pooled vector (default false).
 *
 * Both: at most MAX_FEATURE_INPUTS inputs, none empty; each at most MAX_INPUT_TOKENS tokens.
 */
import { z } from 'zod';
import { ApiError } from '../../http/errors.ts';
import { parseWith } from '../../http/validate.ts';
import type { Truncation } from '../../service/types.ts';
import { HfOptions, MAX_PROMPT_IDS } from '../shared/params.ts';

/** Inputs per request: each is one forward pass, run one after another (see worker/service/embed.ts). */
export const MAX_FEATURE_INPUTS = 16;
/**
 * Numbers in one HF feature-extraction answer (tokens × n_embd, all inputs): 2^20 is ~20 MB of JSON,
 * already a lot next to the model in a 128 MB isolate. GPT-2 small: 1365 tokens; the bundled model: 8192.
 */
export const MAX_FEATURE_VALUES = 1 << 20;

/** Refuses an HF answer that would hold more than `max` numbers (before any compute). */
export function checkAnswerSize(tokens: number, nEmbd: number, max = MAX_FEATURE_VALUES): void {
  if (tokens * nEmbd > max) {
    throw new ApiError(
      'validation',
      `the answer would hold ${tokens} tokens × ${nEmbd} values, over the limit of ${max} numbers; send fewer or shorter inputs (or use /v1/embeddings for one pooled vector per input)`,
      { param: 'inputs' },
    );
  }
}

const Tei = {
  truncate: z.boolean().nullish(),
  truncation: z.boolean().nullish(),
  truncation_direction: z.enum(['left', 'right']).nullish(),
  normalize: z.boolean().nullish(),
  prompt_name: z.string().nullish(),
};

export const HfFeaturesRequest = z.object({
  inputs: z.union([z.string(), z.array(z.string()).min(1).max(MAX_FEATURE_INPUTS)]),
  parameters: z.object(Tei).nullish(),
  options: HfOptions.nullish(),
  ...Tei,
});
export type HfFeaturesRequest = z.infer<typeof HfFeaturesRequest>;

export interface HfFeaturesPlan {
  inputs: string[];
  /** A single string in: answer `[1][tokens][n_embd]`; a list: one such array per input. */
  single: boolean;
  /** Where to cut inputs over MAX_INPUT_TOKENS; null = refuse them (400). */
  truncate: Truncation;
  normalize: boolean;
  waitForModel: boolean;
}

export function parseHfFeaturesRequest(body: unknown): HfFeaturesRequest {
  return parseWith(HfFeaturesRequest, typeof body === 'string' ? { inputs: body } : body);
}

export function planHfFeatures(req: HfFeaturesRequest): HfFeaturesPlan {
  const { parameters, truncate: t, truncation, truncation_direction, normalize, prompt_name } = req;
  const p = { ...parameters, ...definedOnly({ truncate: t, truncation, truncation_direction, normalize, prompt_name }) };
  if (p.prompt_name != null) {
    throw new ApiError('validation', 'prompt_name is not supported: this model has no configured prompts', { param: 'prompt_name' });
  }
  const inputs = typeof req.inputs === 'string' ? [req.inputs] : req.inputs;
  inputs.forEach((s, i) => {
    if (s.length === 0)
      throw new ApiError('validation', `inputs${typeof req.inputs === 'string' ? '' : `[${i}]`} must not be empty`, { param: 'inputs' });
  });
  const truncate = (p.truncate ?? p.truncation ?? false) ? (p.truncation_direction ?? 'right') : null;
  return {
    inputs,
    single: typeof req.inputs === 'string',
    truncate,
    normalize: p.normalize ?? false,
    waitForModel: req.options?.wait_for_model ?? false,
  };
}

const tokenId = z.int().min(0);
export const EmbeddingsRequest = z.object({
  input: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_FEATURE_INPUTS),
    z.array(tokenId).min(1).max(MAX_PROMPT_IDS),
    z.array(z.array(tokenId).min(1).max(MAX_PROMPT_IDS)).min(1).max(MAX_FEATURE_INPUTS),
  ]),
  model: z.string().max(2000).nullish(),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.int().min(1).nullish(),
  user: z.string().nullish(),
  normalize: z.boolean().nullish(),
});
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequest>;

export interface EmbeddingsPlan {
  inputs: (string | number[])[];
  encoding: 'float' | 'base64';
  /** As asked; the route compares it with the model's n_embd. */
  dimensions: number | null;
  normalize: boolean;
}

export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && !('input' in body)) {
    throw new ApiError('validation', 'input is required', { param: 'input', code: 'missing_required_parameter' });
  }
  return parseWith(EmbeddingsRequest, body);
}

export function planEmbeddings(req: EmbeddingsRequest): EmbeddingsPlan {
  const i = req.input;
  const inputs: (string | number[])[] =
    typeof i === 'string' ? [i] : typeof i[0] === 'number' ? [i as number[]] : (i as string[] | number[][]);
  inputs.forEach((s, k) => {
    // api.openai.com refuses empty strings too; an empty input has no tokens to pool.
    if (s.length === 0) throw new ApiError('validation', `input${inputs.length > 1 ? `[${k}]` : ''} must not be empty`, { param: 'input' });
  });
  return { inputs, encoding: req.encoding_format ?? 'float', dimensions: req.dimensions ?? null, normalize: req.normalize ?? false };
}

/** Drops null/undefined so a top-level field overrides `parameters` only when it is actually sent. */
function definedOnly<T extends Record<string, unknown>>(o: T): Partial<{ [K in keyof T]: NonNullable<T[K]> }> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v != null)) as Partial<{ [K in keyof T]: NonNullable<T[K]> }>;
}

/**
 * Server configuration: wrangler.toml `[vars]` plus the `API_KEYS` secret, validated once per isolate.
 * A bad value is an operator error: `parseConfig` throws a ConfigError naming the variable, and the
 * Worker entry answers 500 with that message (the one 5xx that is allowed) instead of guessing.
 */
import { z } from 'zod';
import { parseBackoff, type FailureBackoff } from './model/registry.ts';
import { parseQuotas, QuotaConfigError, type QuotaConfig } from './quota/config.ts';

export interface TokenLimitsConfig {
  maxNewTokens: number;
  maxInputTokens: number;
  /** Capped again per model by its n_positions (see service/limits.ts `modelLimits`). */
  maxTotalTokens: number;
  /** Set by modelLimits where the model's context, not the variable, is the bound (for messages). */
  bounds?: Partial<Record<'max_new_tokens' | 'max_input_tokens' | 'max_total_tokens', string>>;
}

export interface ServerConfig {
  defaultModel: string;
  modelIds: readonly string[];
  /** A model served by a pipeline of stage Workers over the STAGE_<k> bindings (worker/stage/). */
  stagedModel?: string;
  /**
   * Other names a served model answers to in URLs and `model` fields (MODEL_ALIASES="gpt2=edge-gpt2-brown"),
   * so clients written for the retired HF API's `/models/gpt2` keep working. Responses name the real id.
   */
  modelAliases?: ReadonlyMap<string, string>;
  limits: TokenLimitsConfig;
  cpuBudgetMs: number;
  /** '*' allows any origin. */
  corsOrigins: '*' | readonly string[];
  /** Empty = open (local dev). */
  apiKeys: readonly string[];
  /** Request bodies over this many bytes are refused with 413 before parsing. */
  maxBodyBytes: number;
  /** Back-off after a failed model load (LOAD_RETRY_BACKOFF_MS="initialMs,maxMs"; default 1 s doubling to 30 s). */
  loadRetryBackoff?: FailureBackoff;
  /**
   * Continuous batching (generation/scheduler.ts): rows one decode step may hold (MAX_BATCH_ROWS, default
   * 16) and the KV cache MiB all sequences of one model instance may reserve (KV_BUDGET_MB; default: what an
   * isolate's 128 MB leaves after the model's weights, runtime and activations, worker/stage/budget.ts),
   * and for a staged model the steps in flight at once through its stages (PIPELINE_LANES, default 2).
   */
  batching?: { maxBatchRows: number; kvBudgetBytes?: number; lanes?: number };
  /**
   * How a staged model's steps go through its stages (STAGE_HOPS): "chain" (each stage passes the step on:
   * one call from the gateway per step) or "gateway" (the gateway calls each stage); unset, chained where
   * the stages have NEXT_STAGE bindings.
   */
  stageHops?: 'chain' | 'gateway';
  /** Per-key token quotas by the key's SHA-256 (API_KEY_QUOTAS JSON; empty = unmetered; see quota/config.ts). */
  apiKeyQuotas?: QuotaConfig;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const list = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);

const positiveInt = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .regex(/^\s*\d+\s*$/, `${name} must be a positive integer`)
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n) && n > 0, `${name} must be a positive integer`);

const EnvSchema = z.object({
  DEFAULT_MODEL: z.string({ error: 'DEFAULT_MODEL is required' }).trim().min(1, 'DEFAULT_MODEL is empty'),
  MODEL_IDS: z.string().optional(),
  MODEL_ALIASES: z.string().optional(),
  STAGED_MODEL: z.string().optional(),
  MAX_NEW_TOKENS: positiveInt('MAX_NEW_TOKENS'),
  MAX_INPUT_TOKENS: positiveInt('MAX_INPUT_TOKENS'),
  MAX_TOTAL_TOKENS: positiveInt('MAX_TOTAL_TOKENS'),
  CPU_BUDGET_MS: positiveInt('CPU_BUDGET_MS'),
  CORS_ORIGINS: z.string().optional(),
  API_KEYS: z.string().optional(),
  MAX_BODY_BYTES: positiveInt('MAX_BODY_BYTES').optional(),
  LOAD_RETRY_BACKOFF_MS: z.string().optional(),
  API_KEY_QUOTAS: z.string().optional(),
  MAX_BATCH_ROWS: positiveInt('MAX_BATCH_ROWS').optional(),
  KV_BUDGET_MB: positiveInt('KV_BUDGET_MB').optional(),
  PIPELINE_LANES: positiveInt('PIPELINE_LANES').optional(),
  STAGE_HOPS: z.enum(['chain', 'gateway'], { error: 'STAGE_HOPS must be "chain" or "gateway"' }).optional(),
});

const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
/** Hub-style names may have one `org/` prefix (`openai-community/gpt2`). */
const ALIAS = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(?:\/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$/;

/** Validate the Worker's env (string vars) into a ServerConfig; throws ConfigError with the variable's name. */
export function parseConfig(env: Record<string, unknown>): ServerConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid configuration: ${issue?.message ?? 'unknown error'} (${issue?.path.join('.') ?? ''})`);
  }
  const e = parsed.data;
  const modelIds = e.MODEL_IDS !== undefined ? list(e.MODEL_IDS) : [e.DEFAULT_MODEL];
  if (modelIds.length === 0) modelIds.push(e.DEFAULT_MODEL);
  for (const id of modelIds) {
    if (!MODEL_ID.test(id)) throw new ConfigError(`invalid configuration: MODEL_IDS entry "${id}" is not a valid model id`);
  }
  if (!modelIds.includes(e.DEFAULT_MODEL)) {
    throw new ConfigError(`invalid configuration: DEFAULT_MODEL "${e.DEFAULT_MODEL}" is not listed in MODEL_IDS`);
  }
  const stagedModel = e.STAGED_MODEL?.trim() || undefined;
  if (stagedModel !== undefined && !modelIds.includes(stagedModel)) {
    throw new ConfigError(`invalid configuration: STAGED_MODEL "${stagedModel}" is not listed in MODEL_IDS`);
  }
  if (e.MAX_INPUT_TOKENS >= e.MAX_TOTAL_TOKENS) {
    throw new ConfigError('invalid configuration: MAX_INPUT_TOKENS must be < MAX_TOTAL_TOKENS');
  }
  const origins = list(e.CORS_ORIGINS ?? '*');
  for (const o of origins) {
    if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) {
      throw new ConfigError(`invalid configuration: CORS_ORIGINS entry "${o}" must be "*" or an origin like https://example.com`);
    }
  }
  const modelAliases = new Map<string, string>();
  for (const entry of list(e.MODEL_ALIASES ?? '')) {
    const [alias = '', target = ''] = entry.split('=').map((x) => x.trim());
    if (!ALIAS.test(alias) || modelIds.includes(alias)) {
      throw new ConfigError(`invalid configuration: MODEL_ALIASES entry "${entry}" needs a new name like gpt2 or org/name`);
    }
    if (!modelIds.includes(target)) {
      throw new ConfigError(`invalid configuration: MODEL_ALIASES entry "${entry}" must point at one of MODEL_IDS`);
    }
    modelAliases.set(alias, target);
  }
  let apiKeyQuotas: QuotaConfig;
  try {
    apiKeyQuotas = parseQuotas(e.API_KEY_QUOTAS);
  } catch (err) {
    if (err instanceof QuotaConfigError) throw new ConfigError(`invalid configuration: ${err.message}`);
    throw err;
  }
  return {
    defaultModel: e.DEFAULT_MODEL,
    modelIds,
    ...(stagedModel !== undefined ? { stagedModel } : {}),
    ...(e.STAGE_HOPS ? { stageHops: e.STAGE_HOPS } : {}),
    modelAliases,
    limits: { maxNewTokens: e.MAX_NEW_TOKENS, maxInputTokens: e.MAX_INPUT_TOKENS, maxTotalTokens: e.MAX_TOTAL_TOKENS },
    cpuBudgetMs: e.CPU_BUDGET_MS,
    corsOrigins: origins.length === 0 || origins.includes('*') ? '*' : origins,
    apiKeys: list(e.API_KEYS ?? ''),
    maxBodyBytes: e.MAX_BODY_BYTES ?? 1 << 20,
    loadRetryBackoff: parseBackoff(e.LOAD_RETRY_BACKOFF_MS),
    batching: {
      maxBatchRows: e.MAX_BATCH_ROWS ?? 16,
      ...(e.KV_BUDGET_MB ? { kvBudgetBytes: e.KV_BUDGET_MB * 2 ** 20 } : {}),
      ...(e.PIPELINE_LANES ? { lanes: e.PIPELINE_LANES } : {}),
    },
    apiKeyQuotas,
  };
}

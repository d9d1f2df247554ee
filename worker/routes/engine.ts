/**
 * The seam between the HTTP routes and the model/generation layers: resolve a model id, load it
 * (with progress), turn a prompt into token ids under the token budget, and run generation.
 * Every dialect goes through here, so the same request means the same tokens on every route.
 */
import type { GenerationEvent, GenerationParams } from '../generation/types.ts';
import type { LoadedModel, LoadProgress, ModelProvider } from '../model/types.ts';
import { effectiveLimits, type ServerConfig, type TokenLimitsConfig } from '../config.ts';
import { ApiError } from '../http/errors.ts';
import { encodeBounded } from '../generation/prompt-bound.ts';
import { recordFinish } from '../http/finish-detail.ts';
import { currentAdmit } from '../quota/meter.ts';

export interface GenerateOptions {
  signal?: AbortSignal;
  admit?: (tokens: number) => Promise<boolean>;
  now?: () => number;
  onStep?: (info: { step: number; batch: number; past: number }) => void;
}

/** generation's `generate` (worker/generation/generate.ts); injectable for tests. */
export type GenerateFn = (
  lm: LoadedModel['lm'],
  tokenizer: LoadedModel['tokenizer'],
  promptIds: readonly number[],
  params: GenerationParams,
  opts?: GenerateOptions,
) => AsyncGenerator<GenerationEvent, void, undefined>;

/** generation's `checkBudget` (worker/generation/budget.ts): throws a BudgetError naming the limit. */
export type CheckBudgetFn = (inputTokens: number, maxNewTokens: number, limits: TokenLimitsConfig) => void;

export interface EngineDeps {
  models: ModelProvider;
  config: ServerConfig;
  generate: GenerateFn;
  checkBudget: CheckBudgetFn;
  /** Observability hook passed to every generate call (tests count steps). */
  onStep?: GenerateOptions['onStep'];
}

export interface Prepared {
  model: LoadedModel;
  promptIds: number[];
}

export function createEngine(deps: EngineDeps) {
  const { models, config } = deps;
  return {
    config,
    models,
    /** A served model id, or a 404 listing the served ones. */
    resolve(id: string | undefined): string {
      const want = id ?? models.defaultId;
      const aliased = config.modelAliases?.get(want);
      if (aliased !== undefined) return aliased;
      if (!models.ids.includes(want)) {
        throw new ApiError('not_found', `model "${want.slice(0, 200)}" is not served here; served models: ${models.ids.join(', ')}`, {
          code: 'model_not_found',
          param: 'model',
          extra: { models: [...models.ids] },
        });
      }
      return want;
    },
    load(id: string, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel> {
      return models.get(id, onProgress);
    },
    limits(model: LoadedModel): TokenLimitsConfig {
      return effectiveLimits(config.limits, model.manifest.config.n_positions);
    },
    /**
     * Tokenize (or check given ids), apply TGI-style left truncation, then the token budget.
     * `maxNewTokens` here is per sequence: every sequence has the whole context to itself.
     */
    prepare(model: LoadedModel, prompt: string | readonly number[], params: GenerationParams, truncate?: number | null): Prepared {
      let ids: number[];
      if (typeof prompt === 'string') {
        ids = encodeBounded(model.tokenizer, prompt, this.limits(model).maxInputTokens, truncate); // issue 16: refused by length before tokenizing
      } else {
        const vocab = model.tokenizer.vocabSize;
        for (const id of prompt) {
          if (id >= vocab) throw new ApiError('validation', `prompt token id ${id} is out of range (vocabulary size ${vocab})`, { param: 'prompt' });
        }
        ids = [...prompt];
      }
      // An empty prompt conditions on <|endoftext|>, as GPT-2 was trained and OpenAI does.
      if (ids.length === 0) ids = [model.manifest.config.bos_token_id];
      if (truncate != null && ids.length > truncate) ids = ids.slice(ids.length - truncate);
      deps.checkBudget(ids.length, params.maxNewTokens, this.limits(model));
      return { model, promptIds: ids };
    },
    run(p: Prepared, params: GenerationParams, signal?: AbortSignal): AsyncGenerator<GenerationEvent, void, undefined> {
      const opts: GenerateOptions = {};
      if (signal) opts.signal = signal;
      if (deps.onStep) opts.onStep = deps.onStep;
      const admit = currentAdmit(); // issue 16: the key's token quota, charged as tokens are produced
      if (admit) opts.admit = admit;
      return recordFinish(deps.generate(p.model.lm, p.model.tokenizer, p.promptIds, params, opts), signal); // issue 16: X-Finish-Detail
    },
  };
}

export type Engine = ReturnType<typeof createEngine>;

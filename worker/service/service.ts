/**
 * The service core: the one seam between the dialects and the model/generation layers. Resolve a
 * model name (ids and MODEL_ALIASES), load it (with progress), apply the token limits, turn a prompt
 * into token ids (empty prompt → BOS, token-id range, truncation, budget), run generation, and embed.
 * Every dialect goes through here, so the same request means the same tokens on every route.
 * Failures are ServiceErrors (worker/http renders them); nothing here knows about HTTP.
 */
import { BudgetError } from '../generation/budget.ts';
import { CapacityError, GenerationError } from '../generation/errors.ts';
import { StepScheduler, type SchedulerStats } from '../generation/scheduler.ts';
import { assertPromptFits, encodeBounded } from '../generation/prompt-bound.ts';
import type { GenerationEvent, GenerationParams } from '../generation/types.ts';
import type { LoadProgress, ModelProvider, ModelState } from '../model/types.ts';
import { StageError } from '../model/staged-lm.ts';
import { ModelLoadError } from '../model/types.ts';
import type { ServerConfig, TokenLimitsConfig } from '../config.ts';
import { embed } from './embed.ts';
import { ServiceError } from './errors.ts';
import { servedModel, type Model } from './facts.ts';
import { recordFinish } from './finish-detail.ts';
import { checkTokenIds, modelLimits, truncateIds, type Truncation } from './limits.ts';

export interface GenerateOptions {
  signal?: AbortSignal;
  /** Token quota: called before work that produces `tokens` tokens (generation/generate.ts). */
  admit?: (tokens: number) => Promise<boolean>;
  now?: () => number;
  onStep?: (info: { step: number; batch: number; past: number }) => void;
}

/** generation's `generate` (worker/generation/generate.ts); injectable for tests. */
export type GenerateFn = (
  lm: Model['lm'],
  tokenizer: Model['tokenizer'],
  promptIds: readonly number[],
  params: GenerationParams,
  opts?: GenerateOptions,
) => AsyncGenerator<GenerationEvent, void, undefined>;

/** generation's `checkBudget` (worker/generation/budget.ts): throws a BudgetError naming the limit. */
export type CheckBudgetFn = (inputTokens: number, maxNewTokens: number, limits: TokenLimitsConfig) => void;

export interface ServiceDeps {
  models: ModelProvider;
  config: ServerConfig;
  generate: GenerateFn;
  checkBudget: CheckBudgetFn;
  /** Observability hook passed to every generate call (tests count steps). */
  onStep?: GenerateOptions['onStep'];
  /**
   * The token quota of the request being served, if its key is metered (issue 16; app.ts wires
   * quota/meter.ts's `currentAdmit`, which follows the request in an AsyncLocalStorage).
   */
  admission?: () => GenerateOptions['admit'] | undefined;
  /**
   * The request's waitUntil (http/background.ts): loads and generations are handed to it so they run to
   * their end (and release what they hold) when the client that started them goes away.
   */
  keepAlive?: () => (p: Promise<unknown>) => void;
}

export interface Prepared {
  model: Model;
  promptIds: number[];
}

const DEFAULT_LOAD_ESTIMATE_S = 20;

/** A staged model's stage refused (at capacity) or failed: unavailable (503), retryable. */
function stageError(e: StageError): ServiceError {
  return new ServiceError('unavailable', e.message, { reason: e.code, ...(e.retryAfter ? { retryAfterS: e.retryAfter } : {}) });
}

/** Generation or budget failures as the service's errors (the request's fault, or the model's). */
function domainError(e: unknown): unknown {
  if (e instanceof StageError) return stageError(e);
  if (e instanceof CapacityError) return new ServiceError('unavailable', e.message, { reason: 'overloaded', retryAfterS: e.retryAfterS });
  if (e instanceof BudgetError) return new ServiceError('over_limit', e.message, { param: e.limit, reason: 'context_length_exceeded' });
  if (e instanceof GenerationError) {
    if (e.code === 'model_output') return new ServiceError('failed', 'generation failed: the model returned invalid output');
    return new ServiceError('validation', e.message, { reason: e.code });
  }
  return e;
}

export function createService(deps: ServiceDeps) {
  const { models, config } = deps;
  const keepAlive = deps.keepAlive ?? (() => () => {});
  /** Hands the request's waitUntil a promise that settles when the caller says the work has ended. */
  const outlive = (): (() => void) => {
    let end!: () => void;
    keepAlive()(new Promise<void>((resolve) => (end = resolve)));
    return end;
  };
  const load = async (id: string, onProgress?: (p: LoadProgress) => void): Promise<Model> => {
    try {
      const loading = models.get(id, onProgress);
      // The first client's load is everyone's: it must not be cancelled with that client's request.
      keepAlive()(loading.catch(() => undefined));
      return servedModel(await loading);
    } catch (e) {
      if (e instanceof StageError) throw stageError(e);
      // Retry-After: the registry's remaining back-off after a failed load (at least 1 s), when the next load will be tried.
      if (e instanceof ModelLoadError) {
        throw new ServiceError('unavailable', `model could not be loaded: ${e.message}`, {
          reason: e.code,
          retryAfterS: Math.max(1, Math.ceil((e.retryAfterMs ?? 0) / 1000)),
        });
      }
      throw e;
    }
  };
  const limits = (model: Model): TokenLimitsConfig => modelLimits(config.limits, model.facts.nPositions);

  return {
    config,
    ids: models.ids,
    defaultId: models.defaultId,
    state: (id: string): ModelState => models.state(id),
    isReady: (id: string): boolean => models.state(id).state === 'ready',

    /** A served id for a name (an id or an alias), or undefined. */
    lookup(name: string): string | undefined {
      const aliased = config.modelAliases?.get(name);
      if (aliased !== undefined) return aliased;
      return models.ids.includes(name) ? name : undefined;
    },

    /** A served model id (the default when absent), or not_found listing the served ones. */
    resolve(name: string | undefined): string {
      const want = name ?? models.defaultId;
      const id = this.lookup(want);
      if (id === undefined) {
        throw new ServiceError('not_found', `model "${want.slice(0, 200)}" is not served here; served models: ${models.ids.join(', ')}`, {
          reason: 'model_not_found',
          param: 'model',
          extra: { models: [...models.ids] },
        });
      }
      return id;
    },

    load,

    /**
     * For callers that would rather not wait for a load (HF `wait_for_model: false`): while the
     * model is unloaded or loading, start (or join) the load in the background and throw `loading`
     * with an estimate of the seconds left.
     */
    requireReady(id: string, background: (p: Promise<unknown>) => void): void {
      const state = models.state(id);
      if (state.state !== 'unloaded' && state.state !== 'loading') return;
      background(
        load(id).then(
          () => undefined,
          (e: unknown) => console.error(`background load of ${id} failed`, e instanceof Error ? e.message : e),
        ),
      );
      const estimate = estimateSeconds(state);
      throw new ServiceError('loading', `Model ${id} is currently loading`, {
        extra: { estimated_time: estimate },
        retryAfterS: Math.ceil(estimate),
      });
    },

    limits,

    /** The step scheduler's counters when the model batches concurrent requests (generation/scheduler.ts). */
    batchingStats: (model: Model): SchedulerStats | undefined => (model.lm instanceof StepScheduler ? model.lm.stats : undefined),

    /**
     * Tokenize (or check given ids), condition an empty prompt on BOS, apply TGI-style left
     * truncation, then the token budget. `maxNewTokens` is per sequence: each has the whole context.
     */
    prepare(model: Model, prompt: string | readonly number[], params: GenerationParams, truncate?: number | null): Prepared {
      let ids: number[];
      if (typeof prompt === 'string') {
        // Refused by length before tokenizing; with truncation only the tail is tokenized (issue 16).
        try {
          ids = encodeBounded(model.tokenizer, prompt, limits(model).maxInputTokens, truncate);
        } catch (e) {
          throw domainError(e);
        }
      } else {
        checkTokenIds(prompt, model.tokenizer.vocabSize, null);
        ids = [...prompt];
      }
      // An empty prompt conditions on <|endoftext|>, as GPT-2 was trained and OpenAI does.
      if (ids.length === 0) ids = [model.facts.bosTokenId];
      if (truncate != null && ids.length > truncate) ids = ids.slice(ids.length - truncate);
      try {
        deps.checkBudget(ids.length, params.maxNewTokens, limits(model));
      } catch (e) {
        throw domainError(e);
      }
      return { model, promptIds: ids };
    },

    /** Refuses a text too long to fit MAX_INPUT_TOKENS without tokenizing it (issue 16: /tokenize's cap). */
    assertFits(model: Model, text: string, field: string): void {
      try {
        assertPromptFits(model.tokenizer, text, limits(model).maxInputTokens, field);
      } catch (e) {
        throw domainError(e);
      }
    },

    /**
     * One input of feature extraction: token ids checked like a prompt (vocabulary, MAX_INPUT_TOKENS,
     * nothing generated), after TEI-style truncation when asked. `field` names it in errors (`inputs[2]`).
     */
    prepareInput(model: Model, input: string | readonly number[], truncate: Truncation, field: string): number[] {
      let ids = typeof input === 'string' ? model.tokenizer.encode(input) : [...input];
      checkTokenIds(ids, model.tokenizer.vocabSize, field);
      ids = truncateIds(ids, truncate, limits(model).maxInputTokens);
      if (ids.length === 0) ids = [model.facts.bosTokenId];
      try {
        deps.checkBudget(ids.length, 0, limits(model));
      } catch (e) {
        if (e instanceof BudgetError)
          throw new ServiceError('over_limit', `${field}: ${e.message}`, { param: field, reason: 'context_length_exceeded' });
        throw e;
      }
      return ids;
    },

    /** Generation events for a prepared prompt; failures arrive as ServiceErrors. */
    async *run(p: Prepared, params: GenerationParams, signal?: AbortSignal): AsyncGenerator<GenerationEvent, void, undefined> {
      const opts: GenerateOptions = {};
      if (signal) opts.signal = signal;
      if (deps.onStep) opts.onStep = deps.onStep;
      const admit = deps.admission?.(); // issue 16: the key's token quota, charged as tokens are produced
      if (admit) opts.admit = admit;
      // A sequence holds a KV cache and a place in the step scheduler until its `finally`: it must get there
      // (within a step of an abort) even when its client is gone.
      const ended = outlive();
      try {
        // issue 16: each sequence's finish detail is recorded for X-Finish-Detail
        yield* recordFinish(deps.generate(p.model.lm, p.model.tokenizer, p.promptIds, params, opts), signal);
      } catch (e) {
        throw domainError(e);
      } finally {
        ended();
      }
    },

    /** Final hidden states of each input (see embed.ts), within CPU_BUDGET_MS. */
    embed: async (model: Model, inputs: readonly number[][], signal: AbortSignal, field: string) => {
      const ended = outlive();
      try {
        return await embed(model, inputs, signal, field, config.cpuBudgetMs);
      } catch (e) {
        throw domainError(e);
      } finally {
        ended();
      }
    },
  };
}

export type Service = ReturnType<typeof createService>;

/** Seconds left, extrapolated from bytes loaded so far; a fixed guess before there is any progress. */
function estimateSeconds(state: ModelState, now = Date.now()): number {
  if (state.state !== 'loading') return DEFAULT_LOAD_ESTIMATE_S;
  const { loadedBytes, totalBytes } = state.progress;
  const f = totalBytes > 0 ? loadedBytes / totalBytes : 0;
  if (f < 0.05) return DEFAULT_LOAD_ESTIMATE_S;
  const elapsed = Math.max(0, now - state.startedAt) / 1000;
  return Math.round(((elapsed * (1 - f)) / f + 1) * 10) / 10;
}

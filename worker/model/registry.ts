/**
 * ModelProvider: lazy, shared, retrying. Nothing loads until the first get(id); concurrent callers
 * share one in-flight load (and each sees its progress). A failed load is remembered for a short,
 * growing back-off (1 s, 2 s, 4 s … 30 s by default; reset by a success): during it every get()
 * fails at once with the same error and `retryAfterMs` (the 503's Retry-After), so a broken
 * deployment is not re-fetched from R2 in full by every request; after it the next get() loads again
 * (a repaired bucket is picked up without a restart).
 */
import { loadModel } from './load-model.ts';
import { fetchManifest, type LoaderOptions } from './loader.ts';
import type { Manifest } from './manifest.ts';
import type { OrtRuntime } from './ort.ts';
import { ModelLoadError, type BlobSource, type LoadedModel, type LoadProgress, type ModelProvider, type ModelState } from './types.ts';

export interface ModelProviderOptions extends LoaderOptions {
  source: BlobSource;
  ids: readonly string[];
  defaultId: string;
  /** Called on the first load, so the ORT runtime (and its .wasm) is only set up when needed. */
  runtime: () => OrtRuntime;
  /** Replaces loadModel (unit tests of the registry logic). */
  load?: (id: string, onProgress: (p: LoadProgress) => void) => Promise<LoadedModel>;
  /** Back-off after a failed load: `initialMs` doubling per consecutive failure up to `maxMs`; 0 = none. */
  failureBackoff?: FailureBackoff;
  /** Clock for the back-off (ms). */
  now?: () => number;
}

export interface FailureBackoff {
  initialMs: number;
  maxMs: number;
}

const DEFAULT_FAILURE_BACKOFF: FailureBackoff = { initialMs: 1_000, maxMs: 30_000 };

/** The back-off after `failures` consecutive failed loads (1, 2, … ). */
function backoffMs(failures: number, b: FailureBackoff): number {
  if (b.initialMs <= 0 || failures <= 0) return 0;
  return Math.min(b.maxMs, b.initialMs * 2 ** Math.min(failures - 1, 30));
}

interface Entry {
  state: ModelState;
  inFlight?: Promise<LoadedModel>;
  listeners: Set<(p: LoadProgress) => void>;
  model?: LoadedModel;
  /** Consecutive failed loads, the last error, and when the next load may start. */
  failures: number;
  lastError?: ModelLoadError;
  retryAt: number;
}

/** LOAD_RETRY_BACKOFF_MS → the registry's back-off; anything unparsable is the default (logged). */
export function parseBackoff(value: string | undefined): FailureBackoff {
  if (value === undefined || value.trim() === '') return DEFAULT_FAILURE_BACKOFF;
  const m = /^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$/.exec(value);
  if (!m) {
    console.error(`[config] LOAD_RETRY_BACKOFF_MS "${value.slice(0, 50)}" is not "initialMs,maxMs"; using the default`);
    return DEFAULT_FAILURE_BACKOFF;
  }
  const initialMs = Number(m[1]);
  return { initialMs, maxMs: Math.max(initialMs, m[2] !== undefined ? Number(m[2]) : DEFAULT_FAILURE_BACKOFF.maxMs) };
}

export function createModelProvider(opts: ModelProviderOptions): ModelProvider {
  if (opts.ids.length === 0) throw new Error('createModelProvider: no model ids configured (MODEL_IDS)');
  if (!opts.ids.includes(opts.defaultId)) {
    throw new Error(`createModelProvider: default model "${opts.defaultId}" is not one of MODEL_IDS (${opts.ids.join(', ')})`);
  }
  const entries = new Map<string, Entry>(
    opts.ids.map((id) => [id, { state: { state: 'unloaded' }, listeners: new Set(), failures: 0, retryAt: 0 }]),
  );
  const backoff = opts.failureBackoff ?? DEFAULT_FAILURE_BACKOFF;
  const now = opts.now ?? (() => Date.now());
  const load = opts.load ?? ((id, onProgress) => loadModel(opts.source, id, { ...opts, runtime: opts.runtime(), onProgress }));
  const unknown = (id: string) => new ModelLoadError('unknown_model', `unknown model "${id}"; this server has ${opts.ids.join(', ')}`);
  const manifestReads = new Map<string, Promise<Manifest>>();

  function start(id: string, entry: Entry): Promise<LoadedModel> {
    const startedAt = Date.now();
    entry.state = { state: 'loading', progress: { phase: 'manifest', loadedBytes: 0, totalBytes: 0 }, startedAt };
    const onProgress = (p: LoadProgress) => {
      entry.state = { state: 'loading', progress: p, startedAt };
      for (const listener of entry.listeners) listener(p);
    };
    return (async () => {
      try {
        const model = await load(id, onProgress);
        entry.model = model;
        entry.state = { state: 'ready' };
        entry.failures = 0;
        entry.lastError = undefined;
        return model;
      } catch (err) {
        const error = err instanceof ModelLoadError ? err : unexpected(err);
        entry.failures++;
        const wait = backoffMs(entry.failures, backoff);
        entry.retryAt = now() + wait;
        entry.lastError = error;
        console.log(`[model] ${id}: load failed (${error.code}): ${error.message}; next try in ${wait} ms`);
        entry.state = { state: 'failed', error: `${error.code}: ${error.message}`, ...(wait > 0 ? { retryAt: entry.retryAt } : {}) };
        throw new ModelLoadError(error.code, error.message, wait);
      } finally {
        entry.inFlight = undefined; // a success is kept in entry.model; a failure only for its back-off
      }
    })();
  }

  return {
    ids: opts.ids,
    defaultId: opts.defaultId,
    async get(id, onProgress) {
      const entry = entries.get(id);
      if (!entry) throw unknown(id);
      if (entry.model) return entry.model;
      if (!entry.inFlight && entry.lastError && now() < entry.retryAt) {
        throw new ModelLoadError(entry.lastError.code, entry.lastError.message, entry.retryAt - now());
      }
      const joining = entry.inFlight !== undefined;
      entry.inFlight ??= start(id, entry);
      if (!onProgress) return entry.inFlight;
      // A caller joining a load already under way first sees where it stands, then every update.
      if (joining && entry.state.state === 'loading') onProgress(entry.state.progress);
      entry.listeners.add(onProgress);
      try {
        return await entry.inFlight;
      } finally {
        entry.listeners.delete(onProgress);
      }
    },
    state(id) {
      return entries.get(id)?.state ?? { state: 'unloaded' };
    },
    manifest(id) {
      const entry = entries.get(id);
      if (!entry) return Promise.reject(unknown(id));
      if (entry.model) return Promise.resolve(entry.model.manifest);
      let read = manifestReads.get(id);
      if (!read) {
        read = fetchManifest(opts.source, id, opts).finally(() => manifestReads.delete(id));
        manifestReads.set(id, read);
      }
      return read;
    },
  };
}

function unexpected(err: unknown): ModelLoadError {
  console.error('[model] unexpected load error', err);
  return new ModelLoadError('session_failed', `unexpected error while loading: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
}

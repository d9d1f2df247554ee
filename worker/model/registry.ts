/**
 * ModelProvider: lazy, shared, retrying. Nothing loads until the first get(id); concurrent callers
 * share one in-flight load (and each sees its progress); a failed load is forgotten so the next
 * get() tries again (after the bucket is repaired, no restart is needed).
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
}

interface Entry {
  state: ModelState;
  inFlight?: Promise<LoadedModel>;
  listeners: Set<(p: LoadProgress) => void>;
  model?: LoadedModel;
}

export function createModelProvider(opts: ModelProviderOptions): ModelProvider {
  if (opts.ids.length === 0) throw new Error('createModelProvider: no model ids configured (MODEL_IDS)');
  if (!opts.ids.includes(opts.defaultId)) {
    throw new Error(`createModelProvider: default model "${opts.defaultId}" is not one of MODEL_IDS (${opts.ids.join(', ')})`);
  }
  const entries = new Map<string, Entry>(opts.ids.map((id) => [id, { state: { state: 'unloaded' }, listeners: new Set() }]));
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
        return model;
      } catch (err) {
        const error = err instanceof ModelLoadError ? err : unexpected(err);
        console.log(`[model] ${id}: load failed (${error.code}): ${error.message}`);
        entry.state = { state: 'failed', error: `${error.code}: ${error.message}` };
        throw error;
      } finally {
        entry.inFlight = undefined; // a failure is not cached; a success is kept in entry.model
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

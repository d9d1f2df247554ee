/**
 * The Worker's ModelProvider: one per isolate (module scope), keyed by the bucket binding, over R2
 * and the workerd build of onnxruntime-web. Importing this module pulls in ORT's 14 MB .wasm.
 */
import type { StageClient } from '../stage/protocol.ts';
import { r2BlobSource } from './blobs.ts';
import { loadModel } from './load-model.ts';
import { fetchManifest } from './loader.ts';
import type { Manifest } from './manifest.ts';
import { workerdOrt } from './ort-workerd.ts';
import { createModelProvider } from './registry.ts';
import { loadStagedModel } from './staged-lm.ts';
import { ModelLoadError, type ModelProvider } from './types.ts';

export interface ModelEnv {
  MODEL_BUCKET: R2Bucket;
  /** Comma-separated ids served; defaults to DEFAULT_MODEL alone. */
  MODEL_IDS?: string;
  DEFAULT_MODEL?: string;
  /**
   * A model served by a pipeline of stage Workers (`npm run stages` writes the configs): its id, with one
   * Durable Object binding per stage, STAGE_0 … STAGE_<N-1> (the Stage class of each stage script).
   */
  STAGED_MODEL?: string;
}

/** The STAGE_<k> bindings of the gateway, in order, as stage clients (one object per stage script). */
export function stageClientsFor(env: ModelEnv, id: string): StageClient[] {
  const bindings = Object.entries(env as unknown as Record<string, unknown>)
    .map(([k, v]) => [/^STAGE_(\d+)$/.exec(k), v] as const)
    .filter(([m]) => m !== null)
    .sort(([a], [b]) => Number(a![1]) - Number(b![1]));
  if (bindings.length === 0) throw new ModelLoadError('manifest_invalid', `model "${id}" is staged (STAGED_MODEL) but the gateway has no STAGE_<k> bindings`);
  return bindings.map(([, ns]) => reconnecting(ns as DurableObjectNamespace, id));
}

/**
 * A stage client that takes a fresh stub for every call: a stub is an I/O object of the request that made
 * it (Workers refuse to use it from another request), and a stub whose object was reset keeps failing.
 * Order between calls is kept by StagedCausalLM (ops travel with the next call to the same stage).
 */
function reconnecting(ns: DurableObjectNamespace, id: string): StageClient {
  const stub = () => ns.get(ns.idFromName(id)) as unknown as StageClient;
  return {
    load: () => stub().load(),
    step: (req) => stub().step(req),
    head: (req) => stub().head(req),
    apply: (ops) => stub().apply(ops),
    stats: () => stub().stats(),
  };
}

const providers = new WeakMap<R2Bucket, ModelProvider>();

export function modelProviderFor(env: ModelEnv): ModelProvider {
  let provider = providers.get(env.MODEL_BUCKET);
  if (!provider) {
    const defaultId = env.DEFAULT_MODEL?.trim() || 'edge-gpt2-small';
    const ids = (env.MODEL_IDS ?? defaultId).split(',').map((s) => s.trim()).filter(Boolean);
    const source = r2BlobSource(env.MODEL_BUCKET);
    const staged = env.STAGED_MODEL?.trim();
    provider = createModelProvider({
      source,
      ids,
      defaultId,
      runtime: workerdOrt,
      load: (id, onProgress) => (id === staged ? loadStagedModel(source, id, stageClientsFor(env, id)) : loadModel(source, id, { runtime: workerdOrt(), onProgress })),
    });
    providers.set(env.MODEL_BUCKET, provider);
  }
  return provider;
}

const manifests = new WeakMap<R2Bucket, Map<string, Promise<Manifest>>>();

/**
 * A model's manifest without loading the model (the model page, /info): one small R2 read, cached
 * per isolate; a failed read is not cached. Ids outside MODEL_IDS are `unknown_model`.
 */
export function manifestFor(env: ModelEnv, id: string): Promise<Manifest> {
  const provider = modelProviderFor(env);
  if (!provider.ids.includes(id)) {
    return Promise.reject(new ModelLoadError('unknown_model', `unknown model "${id}"; this server has ${provider.ids.join(', ')}`));
  }
  let cache = manifests.get(env.MODEL_BUCKET);
  if (!cache) manifests.set(env.MODEL_BUCKET, (cache = new Map()));
  let pending = cache.get(id);
  if (!pending) {
    pending = fetchManifest(r2BlobSource(env.MODEL_BUCKET), id);
    cache.set(id, pending);
    pending.catch(() => cache.delete(id));
  }
  return pending;
}

/** Bytes of the WASM heap (0 until ORT has started); it never shrinks, so it is also the peak. */
export function wasmHeapBytes(): number {
  return workerdOrt().heapBytes();
}

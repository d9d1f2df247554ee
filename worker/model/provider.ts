/**
 * The Worker's ModelProvider: one per isolate (module scope), keyed by the bucket binding, over R2
 * and the workerd build of onnxruntime-web. Importing this module pulls in ORT's 14 MB .wasm.
 */
import { r2BlobSource } from './blobs.ts';
import { fetchManifest } from './loader.ts';
import type { Manifest } from './manifest.ts';
import { workerdOrt } from './ort-workerd.ts';
import { createModelProvider, parseBackoff } from './registry.ts';
import { ModelLoadError, type ModelProvider } from './types.ts';

export interface ModelEnv {
  MODEL_BUCKET: R2Bucket;
  /** Comma-separated ids served; defaults to DEFAULT_MODEL alone. */
  MODEL_IDS?: string;
  DEFAULT_MODEL?: string;
  /** Optional: back-off after a failed load, "initialMs,maxMs" (default "1000,30000"; "0" = retry at once). */
  LOAD_RETRY_BACKOFF_MS?: string;
}


const providers = new WeakMap<R2Bucket, ModelProvider>();

export function modelProviderFor(env: ModelEnv): ModelProvider {
  let provider = providers.get(env.MODEL_BUCKET);
  if (!provider) {
    const defaultId = env.DEFAULT_MODEL?.trim() || 'edge-gpt2-small';
    const ids = (env.MODEL_IDS ?? defaultId).split(',').map((s) => s.trim()).filter(Boolean);
    const failureBackoff = parseBackoff(env.LOAD_RETRY_BACKOFF_MS);
    provider = createModelProvider({ source: r2BlobSource(env.MODEL_BUCKET), ids, defaultId, runtime: workerdOrt, failureBackoff });
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

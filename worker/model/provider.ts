/**
 * The Worker's ModelProvider: one per isolate (module scope), keyed by the bucket binding, over R2
 * and the workerd build of onnxruntime-web, serving the ids of the validated config (worker/config.ts).
 * Importing this module pulls in ORT's 14 MB .wasm.
 */
import { r2BlobSource } from './blobs.ts';
import { workerdOrt } from './ort-workerd.ts';
import { createModelProvider, type FailureBackoff } from './registry.ts';
import type { ModelProvider } from './types.ts';

/** Which models are served: ServerConfig's modelIds and defaultModel. */
export interface ServedModels {
  ids: readonly string[];
  defaultId: string;
  /** Back-off after a failed load (ServerConfig's loadRetryBackoff; LOAD_RETRY_BACKOFF_MS). */
  failureBackoff?: FailureBackoff;
}

const providers = new WeakMap<R2Bucket, ModelProvider>();

export function modelProviderFor(bucket: R2Bucket, served: ServedModels): ModelProvider {
  let provider = providers.get(bucket);
  if (!provider) {
    const opts = { source: r2BlobSource(bucket), ids: served.ids, defaultId: served.defaultId, runtime: workerdOrt };
    provider = createModelProvider(served.failureBackoff ? { ...opts, failureBackoff: served.failureBackoff } : opts);
    providers.set(bucket, provider);
  }
  return provider;
}

/** Bytes of the WASM heap (0 until ORT has started); it never shrinks, so it is also the peak. */
export function wasmHeapBytes(): number {
  return workerdOrt().heapBytes();
}

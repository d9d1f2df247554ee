/**
 * The Worker's ModelProvider: one per isolate (module scope), keyed by the bucket binding, over R2
 * and the workerd build of onnxruntime-web. Importing this module pulls in ORT's 14 MB .wasm.
 */
import { r2BlobSource } from './blobs.ts';
import { workerdOrt } from './ort-workerd.ts';
import { createModelProvider } from './registry.ts';
import type { ModelProvider } from './types.ts';

export interface ModelEnv {
  MODEL_BUCKET: R2Bucket;
  /** Comma-separated ids served; defaults to DEFAULT_MODEL alone. */
  MODEL_IDS?: string;
  DEFAULT_MODEL?: string;
}

const providers = new WeakMap<R2Bucket, ModelProvider>();

export function modelProviderFor(env: ModelEnv): ModelProvider {
  let provider = providers.get(env.MODEL_BUCKET);
  if (!provider) {
    const defaultId = env.DEFAULT_MODEL?.trim() || 'edge-gpt2-small';
    const ids = (env.MODEL_IDS ?? defaultId).split(',').map((s) => s.trim()).filter(Boolean);
    provider = createModelProvider({ source: r2BlobSource(env.MODEL_BUCKET), ids, defaultId, runtime: workerdOrt });
    providers.set(env.MODEL_BUCKET, provider);
  }
  return provider;
}

export { workerdOrt };

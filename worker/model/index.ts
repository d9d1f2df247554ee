// worker/model: manifest + blobs from R2 → onnxruntime-web sessions → CausalLM + TextTokenizer.
// Node code (tests, scripts) imports from here plus ort-node.ts; the Worker also uses provider.ts.
export * from './types.ts';
export * from './manifest.ts';
export { r2BlobSource, memoryBlobSource } from './blobs.ts';
export { fetchManifest, fetchBlobs, verifyBlob, sha256Hex, totalBytes, DEFAULT_CONCURRENCY } from './loader.ts';
export type { LoaderOptions } from './loader.ts';
export { withRetry, backoffDelay, mapLimit, DEFAULT_RETRY } from './retry.ts';
export type { RetryPolicy } from './retry.ts';
export { loadModel } from './load-model.ts';
export type { LoadModelOptions } from './load-model.ts';
export { OnnxCausalLM } from './causal-lm.ts';
export { createTokenizer } from './tokenizer.ts';
export { createModelProvider } from './registry.ts';
export type { ModelProviderOptions } from './registry.ts';
export type { OrtRuntime } from './ort.ts';

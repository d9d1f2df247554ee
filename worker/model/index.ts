// worker/model: manifest + blobs from R2 → onnxruntime-web sessions → CausalLM + TextTokenizer.
// Node code (tests, scripts) imports from here plus ort-node.ts; the Worker also uses provider.ts.
export * from './types.ts';
export * from './manifest.ts';
export { r2BlobSource, memoryBlobSource } from './blobs.ts';
export { fetchManifest, fetchBlobs } from './loader.ts';
export { loadModel } from './load-model.ts';
export { createModelProvider } from './registry.ts';

/**
 * Bytes of KV cache a model holds in JS, beside its WASM heap. Graph layout: onnxruntime-web copies every
 * present_* output out of the heap into JS arrays, so a cache of `length` positions costs the manifest's
 * kv_cache_bytes_per_token each. Host attention: the cache lives in the kernels' WASM memory, which the
 * heap figure already counts.
 */
import type { Manifest } from '../../worker/model/manifest.ts';

export function kvJsBytes(manifest: Manifest, length: number, batch: number): number {
  return manifest.layout === 'host-attention' ? 0 : manifest.memory.kv_cache_bytes_per_token * length * batch;
}

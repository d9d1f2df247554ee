// worker/kernels: our WASM SIMD kernels (attention over a resident KV cache, LM head) and their wrapper.
// The loaders are imported directly by their users: node.ts (Node) or workerd.ts (the Worker).
export type { Kernels } from './kernels.ts';

/**
 * The kernels in Node (unit tests, scripts, benchmarks): reads the committed .wasm next to this file
 * and compiles it synchronously.
 *
 * This file is also type-checked by worker/tsconfig.json (workers types: no `node:*` modules, an
 * abstract WebAssembly.Module, no import.meta.url), so the three Node-only things it needs are typed
 * structurally here. process.getBuiltinModule needs Node ≥ 20.16.
 */
import { createKernels, type Kernels } from './kernels.ts';

interface NodeGlobals {
  process: { getBuiltinModule(id: 'node:fs'): { readFileSync(path: URL): Uint8Array } };
}
type CompileSync = new (bytes: Uint8Array) => WebAssembly.Module;
declare global {
  interface ImportMeta {
    url: string;
  }
}

let kernels: Kernels | undefined;

export function nodeKernels(): Kernels {
  if (kernels) return kernels;
  const fs = (globalThis as unknown as NodeGlobals).process.getBuiltinModule('node:fs');
  // Written out as `import.meta.url` (no cast): bundlers that inline this file (Vite bundles
  // vitest.config.ts and what it imports) substitute that exact expression with the original file's URL.
  const url = new URL('./gpt2-kernels.wasm', import.meta.url);
  const Module = WebAssembly.Module as unknown as CompileSync;
  kernels = createKernels(new Module(fs.readFileSync(url)));
  return kernels;
}

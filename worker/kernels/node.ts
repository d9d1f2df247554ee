/**
 * The kernels in Node (unit tests, scripts, benchmarks): reads the committed .wasm next to this file
 * and compiles it synchronously.
 *
 * This file is also type-checked by worker/tsconfig.json (workers types: no `node:*` modules, an
 * abstract WebAssembly.Module, no import.meta.url), so the three Node-only things it needs are typed
 * structurally here. process.getBuiltinModule needs Node ≥ 20.16.
 *
 * gpt2-kernels.wasm uses relaxed SIMD's i8×i7 dot product, which V8 ships from 11.4 (Node 22, every
 * workerd). Where the engine refuses it (Node 20: V8 11.3 keeps it behind a flag, and computes the add
 * form wrongly there — so the flag is not the answer), gpt2-kernels-baseline.wasm is used: the same kernels
 * in baseline SIMD, bit-identical results (scripts/kernels/build.ts), slower dense layers.
 */
import { createKernels, type Kernels } from './kernels.ts';
import { kernelExpSum, type RowExpSum } from './softmax.ts';

interface NodeGlobals {
  process: {
    getBuiltinModule(id: 'node:fs'): { readFileSync(path: URL): Uint8Array };
  };
}
type CompileSync = new (bytes: Uint8Array) => WebAssembly.Module;
declare global {
  interface ImportMeta {
    url: string;
  }
}

let kernels: Kernels | undefined;

/** Which build this engine runs: 'relaxed' when it compiles relaxed SIMD, else 'baseline'. */
export let kernelBuild: 'relaxed' | 'baseline' | undefined;

/** Compiles gpt2-kernels.wasm, or the baseline build where the engine refuses relaxed SIMD. */
export function compileKernelModule(relaxed: Uint8Array, baseline: () => Uint8Array): WebAssembly.Module {
  const Module = WebAssembly.Module as unknown as CompileSync;
  try {
    const m = new Module(relaxed);
    kernelBuild = 'relaxed';
    return m;
  } catch (err) {
    if (!(err instanceof WebAssembly.CompileError)) throw err;
    kernelBuild = 'baseline';
    return new Module(baseline());
  }
}

let module: WebAssembly.Module | undefined;

/** The committed kernels compiled once per process (relaxed or baseline build, as compileKernelModule picks). */
function nodeKernelModule(): WebAssembly.Module {
  if (module) return module;
  const fs = (globalThis as unknown as NodeGlobals).process.getBuiltinModule('node:fs');
  // Written out as `import.meta.url` (no cast): bundlers that inline this file (Vite bundles
  // vitest.config.ts and what it imports) substitute that exact expression with the original file's URL.
  const url = new URL('./gpt2-kernels.wasm', import.meta.url);
  const baselineUrl = new URL('./gpt2-kernels-baseline.wasm', import.meta.url);
  module = compileKernelModule(fs.readFileSync(url), () => fs.readFileSync(baselineUrl));
  return module;
}

export function nodeKernels(): Kernels {
  kernels ??= createKernels(nodeKernelModule());
  return kernels;
}

/** The sampler's expSum on an instance of the kernels of its own (softmax.ts), created on first use: as workerd.ts. */
export function nodeExpSum(): RowExpSum {
  return kernelExpSum(() => createKernels(nodeKernelModule()));
}

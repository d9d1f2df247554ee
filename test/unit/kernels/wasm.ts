import { readFileSync } from 'node:fs';
import { createKernels, type Kernels } from '../../../worker/kernels/kernels.ts';
import { compileKernelModule } from '../../../worker/kernels/node.ts';

const wasmBytes = (): Uint8Array<ArrayBuffer> =>
  new Uint8Array(readFileSync(new URL('../../../worker/kernels/gpt2-kernels.wasm', import.meta.url)));

const baselineBytes = (): Uint8Array<ArrayBuffer> =>
  new Uint8Array(readFileSync(new URL('../../../worker/kernels/gpt2-kernels-baseline.wasm', import.meta.url)));

/** The build this engine runs (node.ts's choice: relaxed SIMD where it compiles, else the baseline build). */
export const kernelModule = (): WebAssembly.Module => compileKernelModule(wasmBytes(), baselineBytes);

/** A fresh instance (own memory) per test file, so heap assertions do not depend on other files. */
export const freshKernels = (): Kernels => createKernels(kernelModule());

export { put, runHeadU7 } from './calls.ts';

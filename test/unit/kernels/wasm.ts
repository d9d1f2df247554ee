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

/** Copies a typed array into a new allocation; returns its pointer. */
export function put(k: Kernels, data: Float32Array | Int8Array): number {
  const ptr = k.alloc(data.byteLength);
  k.bytes(ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return ptr;
}

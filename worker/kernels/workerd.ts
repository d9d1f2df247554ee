/**
 * The kernels in workerd: the .wasm is imported as a precompiled module (wrangler.toml's CompiledWasm
 * rule; workerd refuses to compile WASM from bytes at runtime), instantiated synchronously once.
 */
/// <reference path="../wasm.d.ts" />
import kernelsWasm from './gpt2-kernels.wasm';
import { createKernels, type Kernels } from './kernels.ts';
import { kernelExpSum, type RowExpSum } from './softmax.ts';

let kernels: Kernels | undefined;

export function workerdKernels(): Kernels {
  kernels ??= createKernels(kernelsWasm);
  return kernels;
}

/** The sampler's expSum on an instance of the kernels of its own (softmax.ts), created on first use. */
export function workerdExpSum(): RowExpSum {
  return kernelExpSum(() => createKernels(kernelsWasm));
}

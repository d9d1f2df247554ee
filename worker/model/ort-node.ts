/**
 * onnxruntime-web in Node (unit tests, scripts, benchmarks): the package's Node build loads its own
 * .wasm from node_modules; we only pin the same settings as in workerd and watch the heap.
 */
import * as ort from 'onnxruntime-web';
import type { Kernels } from '../kernels/index.ts';
import { nodeKernels } from '../kernels/node.ts';
import { hookInstantiate, type OrtRuntime } from './ort.ts';

let runtime: OrtRuntime | undefined;

export function nodeOrt(): OrtRuntime {
  if (runtime) return runtime;
  const ortHeap = hookInstantiate();
  let kernels: Kernels | undefined;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  runtime = {
    ort,
    platform: 'node-wasm',
    heapBytes: () => ortHeap() + (kernels?.heapBytes() ?? 0),
    kernels: () => (kernels ??= nodeKernels()),
  };
  return runtime;
}

/**
 * onnxruntime-web in workerd. workerd refuses to compile WebAssembly from bytes at runtime, so the
 * .wasm is imported as a module (wrangler.toml's CompiledWasm rule for `**\/*.wasm`; in
 * vitest-pool-workers the same import is turned into a CompiledWasm module) and handed to ORT by
 * swapping it in for a placeholder `wasmBinary` inside WebAssembly.instantiate.
 *
 * `onnxruntime-web/wasm` resolves to dist/ort.wasm.bundle.min.mjs: the CPU-only build with the
 * emscripten glue (ort-wasm-simd-threaded.mjs) inlined, so no dynamic import() happens at runtime.
 * 1.30 ships only the SIMD "threaded" binary; with numThreads = 1 it spawns no workers.
 */
/// <reference path="../wasm.d.ts" />
import * as ort from 'onnxruntime-web/wasm';
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import type { Kernels } from '../kernels/index.ts';
import { workerdKernels } from '../kernels/workerd.ts';
import { hookInstantiate, type Ort, type OrtRuntime } from './ort.ts';

// ORT only needs wasmBinary to be non-empty to skip fetching the .wasm by URL; these bytes never reach
// the compiler: emscripten copies them (`new Uint8Array(wasmBinary)`), so the hook below recognises
// them by content and instantiates the imported module instead.
const PLACEHOLDER = new TextEncoder().encode('edge-gpt2:ort-wasm-placeholder');

function isPlaceholder(source: unknown): boolean {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== PLACEHOLDER.byteLength) return false;
  return bytes.every((b, i) => b === PLACEHOLDER[i]);
}

let runtime: OrtRuntime | undefined;

export function workerdOrt(): OrtRuntime {
  if (runtime) return runtime;
  const ortHeap = hookInstantiate((source) => (isPlaceholder(source) ? ortWasm : undefined));
  let kernels: Kernels | undefined;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = PLACEHOLDER;
  ort.env.logLevel = 'error';
  runtime = {
    ort: ort as unknown as Ort,
    platform: 'workerd-wasm',
    heapBytes: () => ortHeap() + (kernels?.heapBytes() ?? 0),
    kernels: () => (kernels ??= workerdKernels()),
  };
  return runtime;
}

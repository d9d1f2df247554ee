/**
 * The seam between OnnxCausalLM and a concrete onnxruntime-web build. The Worker uses ort-workerd.ts
 * (the `onnxruntime-web/wasm` bundle + the precompiled .wasm module); Node (unit tests, scripts) uses
 * ort-node.ts. Nothing else in worker/model imports onnxruntime-web at runtime: only its types.
 */
import type * as ortTypes from 'onnxruntime-web';
import type { Kernels } from '../kernels/index.ts';

export type Ort = typeof ortTypes;

export interface OrtRuntime {
  readonly ort: Ort;
  /** Which build this is, for logs and /health ('workerd-wasm', 'node-wasm'). */
  readonly platform: string;
  /**
   * Current size of the WASM memories in bytes — ORT's heap plus our kernels' memory once used (both
   * only ever grow) — or 0 before the first session.
   */
  heapBytes(): number;
  /** Our WASM kernels (host-attention models), instantiated on first use. */
  kernels?: () => Kernels;
}

/**
 * Watches WebAssembly.instantiate for ORT's instantiation and keeps the WebAssembly.Memory it gets:
 * ORT 1.30 ships only its "threaded" build, which creates a *shared* memory in JS and passes it in the
 * imports. Only shared memories count, so another module instantiated later in the same process
 * (undici's llhttp in Node) is not mistaken for ORT. `override` lets workerd swap the bytes
 * placeholder for the precompiled module.
 */
export function hookInstantiate(override?: (source: unknown) => WebAssembly.Module | undefined): () => number {
  let memory: WebAssembly.Memory | undefined;
  const original = WebAssembly.instantiate.bind(WebAssembly) as (...args: unknown[]) => Promise<unknown>;
  const findMemory = (imports: unknown, instance?: WebAssembly.Instance): void => {
    const isShared = (v: unknown): v is WebAssembly.Memory =>
      v instanceof WebAssembly.Memory && typeof SharedArrayBuffer !== 'undefined' && v.buffer instanceof SharedArrayBuffer;
    for (const ns of Object.values((imports ?? {}) as Record<string, unknown>)) {
      for (const v of Object.values((ns ?? {}) as Record<string, unknown>)) if (isShared(v)) memory = v;
    }
    for (const v of Object.values(instance?.exports ?? {})) if (isShared(v)) memory = v;
  };
  const wrapped = async (source: unknown, imports?: WebAssembly.Imports): Promise<unknown> => {
    const mod = override?.(source);
    if (mod) {
      // instantiate(Module) resolves to an Instance; emscripten asked with bytes and expects {instance, module}.
      const instance = (await original(mod, imports)) as WebAssembly.Instance;
      findMemory(imports, instance);
      return { instance, module: mod };
    }
    const result = await original(source, imports);
    const instance = result instanceof WebAssembly.Instance ? result : (result as { instance: WebAssembly.Instance }).instance;
    findMemory(imports, instance);
    return result;
  };
  (WebAssembly as { instantiate: unknown }).instantiate = wrapped;
  return () => memory?.buffer.byteLength ?? 0;
}

/**
 * Probes in Node over our own converted graph and OnnxCausalLM: onnxruntime-web's WASM build (the same
 * code and .wasm as in workerd, minus workerd) and native onnxruntime-node (a reference point: what the
 * same graph costs without WASM). Native ORT gets one intra-op thread so it is compared like for like
 * with the single-threaded WASM build.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { argmax, defaultParams, generate } from '../../worker/generation/index.ts';
import { loadModel, type LoadedModel } from '../../worker/model/index.ts';
import type { Ort, OrtRuntime } from '../../worker/model/ort.ts';
import { nodeOrt } from '../../worker/model/ort-node.ts';
import { nodeExpSum, nodeKernels } from '../../worker/kernels/node.ts';
import { useExpSum } from '../../worker/generation/logits.ts';
import { fsBlobSource } from '../lib/r2-fs-source.ts';
import { kvJsBytes } from './kv-bytes.ts';
import { prefill } from './prefill.ts';
import type { Probe } from './suite.ts';

useExpSum(nodeExpSum()); // sampling's softmax on the kernels, as the Worker does (worker/index.ts)

export function selfPeakRss(): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * onnxruntime-node behind the OrtRuntime seam. It does not take external data from memory, so each
 * session's graph and shards are written to a temp dir (names = the graph's `location`s) and loaded by path.
 */
export async function nativeOrt(threads = 1): Promise<OrtRuntime> {
  const native = await import('onnxruntime-node');
  const create = async (graph: Uint8Array, opts: { externalData?: { path: string; data: Uint8Array }[] }) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-ort-'));
    try {
      for (const e of opts.externalData ?? []) writeFileSync(path.join(dir, e.path), e.data);
      writeFileSync(path.join(dir, 'model.onnx'), graph);
      return await native.InferenceSession.create(path.join(dir, 'model.onnx'), {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const ort = { ...native, InferenceSession: { create } } as unknown as Ort;
  // host-attention models: the dense segments run in native ORT, attention and the head in our WASM kernels.
  return { ort, platform: `node-native-${threads}t`, heapBytes: () => 0, kernels: nodeKernels };
}

export function ourProbe(dir: string, id: string, runtime: OrtRuntime): Probe {
  let lm: LoadedModel | undefined;
  let kvPeak = 0;
  const model = () =>
    lm ??
    (() => {
      throw new Error('load() first');
    })();
  return {
    async load() {
      const lines: string[] = [];
      lm = await loadModel(fsBlobSource(dir), id, { runtime, log: (l) => lines.push(l) });
      const m = lines.join('\n').match(/fetch\+verify (\d+) ms, sessions (\d+) ms/);
      return m ? { fetchMs: Number(m[1]), sessionMs: Number(m[2]) } : {};
    },
    async first(ids) {
      const r = await prefill(model().lm, ids, 0);
      model().lm.release(r.cache);
      return argmax(r.logits);
    },
    async decode(ids, steps, runs) {
      const { lm: causal, manifest } = model();
      const base = await prefill(causal, ids, steps);
      const out: number[][] = [];
      for (let r = 0; r < runs; r++) {
        let cache = causal.selectRows(base.cache, [0]);
        let next = argmax(base.logits);
        const stepMs: number[] = [];
        for (let i = 0; i < steps; i++) {
          const t0 = performance.now();
          const s = await causal.forward({ inputIds: [[next]], cache, logitsFor: 'last' });
          cache = s.cache;
          next = argmax(s.logits);
          stepMs.push(performance.now() - t0);
        }
        kvPeak = Math.max(kvPeak, kvJsBytes(manifest, cache.length, cache.batch));
        causal.release(cache);
        out.push(stepMs);
      }
      causal.release(base.cache);
      return out;
    },
    async generate(ids, newTokens) {
      const params = { ...defaultParams(), maxNewTokens: newTokens, stopOnEos: false, cpuBudgetMs: 1e9 };
      for await (const _ of generate(model().lm, model().tokenizer, ids, params));
    },
    async memory() {
      const heap = runtime.heapBytes();
      return { ...(heap ? { heap } : {}), kvJsBytes: kvPeak, rssPeak: selfPeakRss() };
    },
  };
}

export { nodeOrt };

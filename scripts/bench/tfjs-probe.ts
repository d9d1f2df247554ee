/**
 * transformers.js (`pipeline('text-generation')`) over the hf-layout adapter of our graph, local files
 * only. `wasm`: onnxruntime-web 1.30 (our Worker's build, one thread) handed to transformers.js through
 * its `Symbol.for('onnxruntime')` hook — in Node it would otherwise pick onnxruntime-node. `native`:
 * transformers.js's default in Node, onnxruntime-node (one intra-op thread, like for like).
 * Must run in its own process: the hook is global and read when transformers.js is first imported.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hookInstantiate } from '../../worker/model/ort.ts';
import { selfPeakRss } from './node-probe.ts';
import type { Probe } from './suite.ts';

type Generator = ((text: string, opts: Record<string, unknown>) => Promise<unknown>) & {
  tokenizer: { encode(t: string): number[]; decode(ids: number[], o?: Record<string, unknown>): string };
};

export async function tfjsProbe(
  hfRoot: string,
  name: string,
  dtype: string,
  backend: 'wasm' | 'native',
  log: (l: string) => void,
): Promise<Probe> {
  let heap = () => 0;
  if (backend === 'wasm') {
    heap = hookInstantiate();
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    // Set before transformers.js loads, or it points wasmPaths at a CDN (no network here).
    const dist = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web')), '/');
    ort.env.wasm.wasmPaths = pathToFileURL(dist).href;
    (globalThis as Record<symbol, unknown>)[Symbol.for('onnxruntime')] = ort;
  }
  const { pipeline, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = hfRoot.endsWith('/') ? hfRoot : `${hfRoot}/`;
  const sessionOptions =
    backend === 'wasm'
      ? { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }
      : { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 };
  let gen: Generator | undefined;
  const texts = new Map<number, string>();
  const text = (ids: number[]): string => {
    let t = texts.get(ids.length);
    if (t === undefined) {
      t = gen!.tokenizer.decode(ids, { skip_special_tokens: false });
      const back = gen!.tokenizer.encode(t).length;
      if (back !== ids.length) log(`note: the ${ids.length}-token prompt re-encodes to ${back} tokens in transformers.js`);
      texts.set(ids.length, t);
    }
    return t;
  };
  const greedy = (n: number) => ({ max_new_tokens: n, min_new_tokens: n, do_sample: false });
  return {
    async load() {
      // With the hook, transformers.js lists no devices of its own: 'auto' maps to none and our
      // executionProviders stand; in native mode 'cpu' is its Node default.
      const device = backend === 'wasm' ? 'auto' : 'cpu';
      gen = (await pipeline('text-generation', name, {
        dtype,
        device,
        local_files_only: true,
        session_options: sessionOptions,
      } as never)) as unknown as Generator;
      return {};
    },
    async first(ids) {
      await gen!(text(ids), greedy(1));
      return 0;
    },
    async decode(ids, steps, runs) {
      const out: number[][] = [];
      for (let r = 0; r < runs; r++) {
        const at: number[] = [];
        // put() is called once with the prompt, then once per new token.
        const streamer = { put: () => void at.push(performance.now()), end: () => {} };
        await gen!(text(ids), { ...greedy(steps + 1), streamer });
        out.push(
          at
            .slice(1)
            .slice(1)
            .map((t, i) => t - at[i + 1]!),
        );
      }
      return out;
    },
    async generate(ids, newTokens) {
      await gen!(text(ids), greedy(newTokens));
    },
    async memory() {
      const h = heap();
      return { ...(h ? { heap: h } : {}), rssPeak: selfPeakRss() };
    },
  };
}

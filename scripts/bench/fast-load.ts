/**
 * loadModel for either graph I/O: manifests whose stages take `kv_mask` or `attention_bias` (capacity-KV variants,
 * variants.ts) get FastCausalLM, everything else the Worker's own loadModel + OnnxCausalLM. Same fetch,
 * verify and one-session-per-stage order as worker/model/load-model.ts.
 */
import { fetchBlobs, fetchManifest, loadModel, type LoadedModel } from '../../worker/model/index.ts';
import { createTokenizer } from '../../worker/model/tokenizer.ts';
import type { OrtRuntime } from '../../worker/model/ort.ts';
import type { BlobSource } from '../../worker/model/types.ts';
import { FastCausalLM } from './fast-lm.ts';
import { graphOf } from '../../worker/model/manifest.ts';

export async function loadAnyModel(source: BlobSource, id: string, runtime: OrtRuntime, log: (l: string) => void): Promise<LoadedModel> {
  const t0 = Date.now();
  const manifest = await fetchManifest(source, id);
  const io = manifest.stages[0]!.inputs;
  if (!io.includes('attention_bias') && !io.includes('kv_mask')) return loadModel(source, id, { runtime, log });
  const [tok] = await fetchBlobs(source, [manifest.tokenizer]);
  const tokenizer = createTokenizer(JSON.parse(new TextDecoder().decode(tok)), manifest.config.eos_token_id);
  const sessions = [];
  let fetchMs = 0;
  let sessionMs = 0;
  for (const stage of manifest.stages) {
    const tf = Date.now();
    const [graph, ...shards] = await fetchBlobs(source, [graphOf(stage), ...stage.shards]);
    fetchMs += Date.now() - tf;
    const ts = Date.now();
    sessions.push(
      await runtime.ort.InferenceSession.create(graph!, {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
        externalData: stage.shards.map((ref, j) => ({ path: ref.location, data: shards[j]! })),
      }),
    );
    sessionMs += Date.now() - ts;
  }
  log(`[model] ${id}: loaded in ${Date.now() - t0} ms (fetch+verify ${fetchMs} ms, sessions ${sessionMs} ms), fast KV`);
  return { id, manifest, lm: new FastCausalLM(runtime, manifest, sessions), tokenizer };
}

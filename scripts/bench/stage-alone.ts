/**
 * One stage of a multi-stage model alone in a fresh isolate: what a stage would need if each stage
 * lived in its own isolate (Durable Object). Loads only that stage's graph + shards, prefills `seq`
 * tokens, then runs one decode step over a zero-filled past of `past` tokens (the values do not change
 * the cost or the memory), and reports the WASM heap after each phase.
 */
import type * as ortTypes from 'onnxruntime-web';
import { fetchBlobs, fetchManifest } from '../../worker/model/loader.ts';
import type { OrtRuntime } from '../../worker/model/ort.ts';
import type { BlobSource } from '../../worker/model/types.ts';
import { graphOf } from '../../worker/model/manifest.ts';

export interface StageAloneResult {
  stage: number;
  layers: [number, number];
  heapAfterSession: number;
  heapAfterPrefill: number;
  heapAfterDecode: number;
  /** JS bytes of the past tensors fed to the decode step (this stage's share of the KV cache). */
  kvJsBytes: number;
}

export async function runStageAlone(source: BlobSource, rt: OrtRuntime, body: Record<string, unknown>): Promise<StageAloneResult> {
  const id = String(body.id);
  const s = Number(body.stage);
  const past = Number(body.past ?? 512);
  const seq = Number(body.seq ?? 128);
  const m = await fetchManifest(source, id);
  const stage = m.stages[s];
  if (!stage) throw new Error(`${id} has no stage ${s}`);
  const [graph, ...shards] = await fetchBlobs(source, [graphOf(stage), ...stage.shards]);
  const session = await rt.ort.InferenceSession.create(graph!, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    externalData: stage.shards.map((ref, j) => ({ path: ref.location, data: shards[j]! })),
  });
  const heapAfterSession = rt.heapBytes();
  const { Tensor } = rt.ort;
  const H = m.config.n_head;
  const hd = m.config.n_embd / H;
  const f16 = m.kv_dtype === 'float16';
  const feeds = (n: number, p: number): Record<string, ortTypes.Tensor> => {
    const f: Record<string, ortTypes.Tensor> = {};
    if (stage.inputs.includes('input_ids')) f.input_ids = new Tensor('int64', new BigInt64Array(n).fill(464n), [1, n]); // [batch, seq]
    if (stage.inputs.includes('hidden_in')) {
      f.hidden_in = new Tensor('float32', new Float32Array(n * m.config.n_embd).fill(0.01), [1, n, m.config.n_embd]); // [batch, seq, n_embd]
    }
    if (stage.inputs.includes('logits_index')) f.logits_index = new Tensor('int64', BigInt64Array.of(BigInt(n - 1)), [1]);
    for (let i = stage.layers[0]; i < stage.layers[1]; i++) {
      for (const kind of ['key', 'value']) {
        const data = f16 ? new Uint16Array(H * p * hd) : new Float32Array(H * p * hd);
        f[`past_${kind}.${i}`] = new Tensor(m.kv_dtype as 'float32', data as Float32Array, [1, H, p, hd]); // [batch, n_head, past, head_dim]
      }
    }
    return f;
  };
  const outputs = stage.outputs.filter((o) => o !== 'last_hidden_state');
  const free = (r: Record<string, ortTypes.Tensor>) => Object.values(r).forEach((t) => t.dispose());
  free(await session.run(feeds(seq, 0), outputs));
  const heapAfterPrefill = rt.heapBytes();
  const decodeFeeds = feeds(1, past);
  free(await session.run(decodeFeeds, outputs));
  const heapAfterDecode = rt.heapBytes();
  const layers = stage.layers[1] - stage.layers[0];
  await session.release();
  return {
    stage: s,
    layers: stage.layers,
    heapAfterSession,
    heapAfterPrefill,
    heapAfterDecode,
    kvJsBytes: 2 * layers * past * m.config.n_embd * (f16 ? 2 : 4),
  };
}

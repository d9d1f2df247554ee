/**
 * manifest → verified blobs → tokenizer + one ORT session per stage → LoadedModel.
 * Stages are fetched and turned into sessions one at a time, and each stage's JS bytes become garbage
 * as soon as its session holds them in the WASM heap: peak ≈ one copy of the weights + one stage.
 */
import type { InferenceSession } from 'onnxruntime-web';
import { OnnxCausalLM } from './causal-lm.ts';
import { fetchBlobs, fetchManifest, totalBytes, type LoaderOptions } from './loader.ts';
import type { OrtRuntime } from './ort.ts';
import { createTokenizer } from './tokenizer.ts';
import { ModelLoadError, type BlobSource, type LoadedModel, type LoadProgress } from './types.ts';

export interface LoadModelOptions extends LoaderOptions {
  runtime: OrtRuntime;
  onProgress?: (p: LoadProgress) => void;
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

export async function loadModel(source: BlobSource, id: string, opts: LoadModelOptions): Promise<LoadedModel> {
  const log = opts.log ?? console.log;
  const t0 = Date.now();
  const manifest = await fetchManifest(source, id, opts);
  const total = totalBytes(manifest);
  let loaded = 0;
  const progress = (phase: LoadProgress['phase'], stage?: number) =>
    opts.onProgress?.({ phase, loadedBytes: loaded, totalBytes: total, ...(stage === undefined ? {} : { stage }) });
  const onBytes = (n: number) => {
    loaded += n;
    progress('shards');
  };
  progress('manifest');
  log(`[model] ${id}: manifest ok, ${manifest.stages.length} stage(s), ${mb(total)} to fetch (${manifest.quantization.method})`);

  const [tokenizerBytes] = await fetchBlobs(source, [manifest.tokenizer], { ...opts, onBytes });
  let tokenizer;
  try {
    tokenizer = createTokenizer(JSON.parse(new TextDecoder().decode(tokenizerBytes)), manifest.config.eos_token_id);
  } catch (err) {
    throw new ModelLoadError('manifest_invalid', `${manifest.tokenizer.key} is not a usable tokenizer.json: ${(err as Error).message}`);
  }

  const sessions: InferenceSession[] = [];
  let fetchMs = 0;
  let sessionMs = 0;
  try {
    for (const [s, stage] of manifest.stages.entries()) {
      const tf = Date.now();
      const [graph, ...shards] = await fetchBlobs(source, [stage.graph, ...stage.shards], { ...opts, onBytes });
      fetchMs += Date.now() - tf;
      progress('session', s);
      const ts = Date.now();
      sessions.push(await createSession(opts.runtime, graph!, stage.shards.map((ref, j) => ({ path: ref.location, data: shards[j]! })), s));
      sessionMs += Date.now() - ts;
      log(`[model] ${id}: stage ${s} ready (layers ${stage.layers[0]}..${stage.layers[1] - 1}), wasm heap ${mb(opts.runtime.heapBytes())}`);
    }
  } catch (err) {
    await Promise.allSettled(sessions.map((x) => x.release()));
    throw err;
  }
  const lm = new OnnxCausalLM(opts.runtime, manifest, sessions);
  progress('ready');
  log(
    `[model] ${id}: loaded in ${Date.now() - t0} ms (fetch+verify ${fetchMs} ms, sessions ${sessionMs} ms), ` +
      `${mb(total)} fetched, wasm heap ${mb(opts.runtime.heapBytes())}`,
  );
  return { id, manifest, lm, tokenizer };
}

async function createSession(
  rt: OrtRuntime,
  graph: Uint8Array,
  externalData: { path: string; data: Uint8Array }[],
  stage: number,
): Promise<InferenceSession> {
  try {
    return await rt.ort.InferenceSession.create(graph, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      externalData,
    });
  } catch (err) {
    throw new ModelLoadError('session_failed', `stage ${stage}: onnxruntime could not create a session: ${String((err as Error).message ?? err).slice(0, 200)}`);
  }
}

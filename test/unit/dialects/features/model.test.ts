/**
 * The feature routes over the real bundled model, through the whole app in Node (onnxruntime-web WASM):
 * model-shards/ as shipped (int8; $MODEL_SHARDS for another conversion) and an fp32 conversion of checkpoints/edge-gpt2-brown, against the
 * torch reference hidden states (after ln_f) in test/fixtures/reference/edge-gpt2-brown.json.
 * The numbers come from the fixture file, so a retrained model only needs its fixtures regenerated.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fsBlobSource } from '../../../../scripts/lib/r2-fs-source.ts';
import { createApp } from '../../../../worker/app.ts';
import { nodeOrt } from '../../../../worker/model/ort-node.ts';
import { createModelProvider } from '../../../../worker/model/registry.ts';
import type { BlobSource, ModelProvider } from '../../../../worker/model/types.ts';
import { BUNDLED_ID, FP32_ID, SHARDS_DIR, bundledFp32, referenceFixture } from '../../model/fixtures/bundled.ts';
import { FP32_FEATURE_TOL, int8FeatureTol } from './tolerances.ts';
import { json, testConfig } from '../helpers.ts';

interface Reference {
  checkpoint: { model_safetensors_sha256: string };
  prompts: { name: string; text: string; ids: number[] }[];
  hidden_states: { prompt: string; ids: number[]; shape: [number, number]; values: number[][] };
}

let ref: Reference;
let text: string;
let models: ModelProvider;
let app: ReturnType<typeof createApp>;

/** Blobs are content-addressed: the two trees can be read as one bucket. */
const either = (a: BlobSource, b: BlobSource): BlobSource => ({ get: async (key) => (await a.get(key)) ?? b.get(key) });

beforeAll(async () => {
  ref = (await referenceFixture()) as Reference;
  const p = ref.prompts.find((x) => x.name === ref.hidden_states.prompt);
  if (!p) throw new Error(`fixture: hidden_states.prompt "${ref.hidden_states.prompt}" is not one of its prompts`);
  text = p.text;
  const fp32 = await bundledFp32();
  models = createModelProvider({
    source: either(fsBlobSource(SHARDS_DIR), fsBlobSource(fp32.dir)), // model-shards/ (or $MODEL_SHARDS) + fp32
    ids: [BUNDLED_ID, FP32_ID],
    defaultId: BUNDLED_ID,
    runtime: nodeOrt,
    log: () => {},
  });
  app = createApp({
    models,
    config: testConfig({ modelIds: [BUNDLED_ID, FP32_ID], limits: { maxNewTokens: 64, maxInputTokens: 512, maxTotalTokens: 1024 } }),
  });
}, 120_000);

const maxAbs = (got: number[][], want: number[][]) => Math.max(...want.flatMap((row, t) => row.map((v, e) => Math.abs(got[t]![e]! - v))));
const mean = (rows: number[][]) => rows[0]!.map((_, e) => rows.reduce((s, r) => s + r[e]!, 0) / rows.length);

async function features(id: string, inputs: string | string[]): Promise<unknown> {
  const res = await app.request(`/pipeline/feature-extraction/${id}`, json({ inputs, options: { wait_for_model: true } }));
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

async function embedding(id: string, input: string): Promise<number[]> {
  const res = await app.request('/v1/embeddings', json({ model: id, input }));
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { embedding: number[] }[] }).data[0]!.embedding;
}

describe.each([
  [FP32_ID, () => FP32_FEATURE_TOL],
  [BUNDLED_ID, () => int8FeatureTol(ref.hidden_states.values)],
])('%s: features through the app equal torch', (id, bound) => {
  it('is the checkpoint the fixture was made from, and tokenizes the fixture prompt the same', async () => {
    const m = await models.get(id);
    expect(m.manifest.source.checkpoint_sha256, 'model and fixture disagree: regenerate one of them').toBe(
      ref.checkpoint.model_safetensors_sha256,
    );
    expect(m.tokenizer.encode(text)).toEqual(ref.hidden_states.ids);
  });

  it('HF feature extraction: [1][tokens][n_embd] within the bound', async () => {
    const tol = bound();
    const body = (await features(id, text)) as number[][][];
    const [tokens, nEmbd] = ref.hidden_states.shape;
    expect(body).toHaveLength(1);
    expect(body[0]).toHaveLength(tokens);
    expect(body[0]!.every((row) => row.length === nEmbd)).toBe(true);
    const err = maxAbs(body[0]!, ref.hidden_states.values);
    console.log(`[features] ${id}: max |hidden - torch| = ${err.toExponential(2)} (bound ${tol.toExponential(2)})`);
    expect(err).toBeLessThan(tol);
  });

  it('OpenAI embedding: the mean over tokens within the bound', async () => {
    const tol = bound();
    const got = await embedding(id, text);
    const want = mean(ref.hidden_states.values);
    expect(got).toHaveLength(want.length);
    const err = Math.max(...want.map((v, e) => Math.abs(got[e]! - v)));
    console.log(`[features] ${id}: max |mean-pooled - torch| = ${err.toExponential(2)} (bound ${tol.toExponential(2)})`);
    expect(err).toBeLessThan(tol);
  });

  it('a list of inputs answers exactly what separate calls do', async () => {
    const texts = ref.prompts.slice(0, 4).map((p) => p.text);
    const batch = (await features(id, texts)) as unknown[];
    expect(batch).toHaveLength(texts.length);
    for (const [i, t] of texts.entries()) expect(batch[i]).toEqual(await features(id, t));
  });
});

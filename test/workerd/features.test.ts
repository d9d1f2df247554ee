/**
 * The feature routes of the whole Worker (worker/index.ts via SELF, wrangler.toml's vars) inside
 * workerd, over the bundled int8 model seeded into R2: hidden states and the mean-pooled embedding
 * against the torch reference fixture, and base64 embeddings equal to the float ones.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { int8FeatureTol } from '../unit/dialects/features/tolerances.ts';
import { fixture, fixtureText, seed } from './helpers.ts';

const ID = 'edge-gpt2-brown';

interface Reference {
  prompts: { name: string; text: string }[];
  hidden_states: { prompt: string; ids: number[]; values: number[][] };
}

const post = (path: string, body: unknown) =>
  SELF.fetch(`http://worker${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('feature routes of the Worker in workerd', () => {
  let ref: Reference;
  let text: string;

  beforeAll(async () => {
    const keys = (await fixtureText('shards/list')).split('\n'); // model-shards/, or $MODEL_SHARDS
    await seed(keys, (key) => fixture(`shards/file/${key}`));
    ref = JSON.parse(await fixtureText('file/test/fixtures/reference/edge-gpt2-brown.json'));
    text = ref.prompts.find((p) => p.name === ref.hidden_states.prompt)!.text;
  });

  it('HF feature extraction equals torch within the int8 bound', async () => {
    const res = await post(`/pipeline/feature-extraction/${ID}`, { inputs: text, options: { wait_for_model: true } });
    expect(res.status, await res.clone().text()).toBe(200);
    const [rows] = (await res.json()) as number[][][];
    expect(rows).toHaveLength(ref.hidden_states.ids.length);
    const tol = int8FeatureTol(ref.hidden_states.values);
    let err = 0;
    ref.hidden_states.values.forEach((row, t) => row.forEach((v, e) => (err = Math.max(err, Math.abs(rows![t]![e]! - v)))));
    console.log(`[features/workerd] max |hidden - torch| = ${err.toExponential(2)} (bound ${tol.toExponential(2)})`);
    expect(err).toBeLessThan(tol);
  });

  it('OpenAI embeddings: the mean over tokens, base64 equal to float', async () => {
    const float = await post('/v1/embeddings', { model: ID, input: text });
    expect(float.status, await float.clone().text()).toBe(200);
    const body = (await float.json()) as { data: { embedding: number[] }[]; usage: { prompt_tokens: number } };
    expect(body.usage.prompt_tokens).toBe(ref.hidden_states.ids.length);
    const got = body.data[0]!.embedding;
    const rows = ref.hidden_states.values;
    const want = rows[0]!.map((_, e) => rows.reduce((s, r) => s + r[e]!, 0) / rows.length);
    expect(got).toHaveLength(want.length);
    expect(Math.max(...want.map((v, e) => Math.abs(got[e]! - v)))).toBeLessThan(int8FeatureTol(rows));

    const b64 = (await (await post('/v1/embeddings', { model: ID, input: text, encoding_format: 'base64' })).json()) as {
      data: { embedding: string }[];
    };
    const bytes = Uint8Array.from(atob(b64.data[0]!.embedding), (ch) => ch.charCodeAt(0));
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual(got);
  });
});

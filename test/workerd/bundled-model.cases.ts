/**
 * The bundled model (model-shards/, int8) and an fp32 conversion of its checkpoint, loaded from R2
 * inside workerd, against the torch reference fixtures (test/fixtures/reference/edge-gpt2-brown.json)
 * and against the same int8 model run in Node. Also logs load/decode timings and the WASM heap.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { workerdOrt } from '../../worker/model/ort-workerd.ts';
import { createModelProvider } from '../../worker/model/registry.ts';
import type { LoadedModel, ModelProvider } from '../../worker/model/types.ts';
import { argmax } from '../../worker/generation/logits.ts';
import { countingR2, fixture, fixtureFetch, fixtureText, greedy, seed } from './helpers.ts';

const BUNDLED = 'edge-gpt2-brown';
const FP32 = 'edge-gpt2-brown-fp32';

interface Reference {
  checkpoint: { model_safetensors_sha256: string };
  prompts: {
    name: string;
    text: string;
    ids: number[];
    last_logits: { top_ids: number[]; top_values: number[] };
    greedy_new_ids: number[];
  }[];
  hidden_states: { ids: number[]; values: number[][] };
  prompt_logprobs: { ids: number[]; token_logprobs: (number | null)[] };
}

/** The shipped model vs torch and vs Node, plus timings (called from bundled.test.ts). */
export function bundledModelCases(): void {
  describe('bundled model in workerd', () => {
    let models: ModelProvider;
    let ref: Reference;
    let loadMs = 0;
    /** Node's greedy run of the shipped model per prompt: fetched up front, before any heavy compute here. */
    const node = new Map<string, { tokens: number[]; logits: Float32Array }>();

    beforeAll(async () => {
      const shards = (await fixtureText('shards/list')).split('\n');
      if (!shards.includes(`models/${BUNDLED}/manifest.json`))
        throw new Error('the shipped model dir (model-shards/ or $MODEL_SHARDS) has no edge-gpt2-brown manifest');
      await seed(shards, (key) => fixture(`shards/file/${key}`));
      const fp32 = (await fixtureText('bundled-fp32/list')).split('\n');
      await seed(fp32, (key) => fixture(`bundled-fp32/file/${key}`));
      ref = JSON.parse(await fixtureText('file/test/fixtures/reference/edge-gpt2-brown.json'));
      for (const p of ref.prompts) {
        const res = await fixtureFetch('bundled/node-greedy', {
          method: 'POST',
          body: JSON.stringify({ ids: p.ids, steps: 8 }),
        });
        if (!res.ok) throw new Error(await res.text());
        // [steps + 1, vocab] float32 logits; the tokens ride in a header.
        node.set(p.name, { tokens: JSON.parse(res.headers.get('x-tokens')!), logits: new Float32Array(await res.arrayBuffer()) });
      }
      models = createModelProvider({ source: countingR2(), ids: [BUNDLED, FP32], defaultId: BUNDLED, runtime: workerdOrt });
      const t0 = performance.now();
      await models.get(BUNDLED);
      loadMs = performance.now() - t0;
    });

    it('ships the checkpoint the torch fixtures were made from, and tokenizes the prompts the same', async () => {
      const { manifest, tokenizer } = await models.get(BUNDLED);
      expect(manifest.source.checkpoint_sha256).toBe(ref.checkpoint.model_safetensors_sha256);
      for (const p of ref.prompts) expect(tokenizer.encode(p.text), p.name).toEqual(p.ids);
    });

    it('fp32: last logits, greedy continuation, hidden states and prompt logprobs equal torch', async () => {
      const { lm } = await models.get(FP32);
      for (const p of ref.prompts) {
        const g = await greedy(lm, p.ids, p.greedy_new_ids.length);
        const got = p.last_logits.top_ids.map((id) => g.logits[0]![id]!);
        got.forEach((v, i) => expect(Math.abs(v - p.last_logits.top_values[i]!), `${p.name} logit ${i}`).toBeLessThan(1e-4));
        expect(g.tokens, p.name).toEqual(p.greedy_new_ids);
      }
      const h = await lm.forward({ inputIds: [ref.hidden_states.ids], cache: null, logitsFor: 'last', hidden: true });
      const E = lm.config.nEmbd;
      ref.hidden_states.values.forEach((row, s) => row.forEach((v, e) => expect(Math.abs(h.hidden![s * E + e]! - v)).toBeLessThan(1e-4)));
      lm.release(h.cache);
      const ids = ref.prompt_logprobs.ids;
      const all = await lm.forward({ inputIds: [ids], cache: null, logitsFor: 'all' });
      const V = lm.config.vocabSize;
      for (let i = 1; i < ids.length; i++) {
        const row = all.logits.subarray((i - 1) * V, i * V);
        const max = row.reduce((m, x) => Math.max(m, x), -Infinity);
        const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
        expect(Math.abs(row[ids[i]!]! - lse - ref.prompt_logprobs.token_logprobs[i]!), `token ${i}`).toBeLessThan(1e-4);
      }
      lm.release(all.cache);
    });

    it('int8 (as shipped): workerd gives the Node result, and agrees with torch on the first greedy token', async () => {
      const model: LoadedModel = await models.get(BUNDLED);
      let agree = 0;
      for (const p of ref.prompts) {
        const g = await greedy(model.lm, p.ids, 8);
        const { tokens: nodeTokens, logits: nodeLogits } = node.get(p.name)!;
        expect(g.tokens, p.name).toEqual(nodeTokens);
        const V = model.lm.config.vocabSize;
        g.logits.forEach((l, i) => {
          let diff = 0;
          l.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - nodeLogits[i * V + j]!))));
          expect(diff, `${p.name} step ${i}`).toBeLessThan(1e-5);
        });
        if (g.tokens[0] === p.greedy_new_ids[0]) agree++;
      }
      expect(agree).toBeGreaterThanOrEqual(ref.prompts.length - 1);
    });

    it('measures load, first forward and decode speed (logged)', async () => {
      const { lm, manifest } = await models.get(BUNDLED);
      const rt = workerdOrt();
      const heapLoaded = rt.heapBytes();
      const prompt = ref.prompt_logprobs.ids;
      const t0 = performance.now();
      let r = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last' });
      const firstMs = performance.now() - t0;
      const steps = 64;
      const t1 = performance.now();
      for (let i = 0; i < steps; i++) r = await lm.forward({ inputIds: [[argmax(r.logits)]], cache: r.cache, logitsFor: 'last' });
      const perToken = (performance.now() - t1) / steps;
      lm.release(r.cache);
      const mb = (n: number) => (n / 2 ** 20).toFixed(1);
      console.log(
        `[bench] ${manifest.id} (${manifest.quantization.method}, ${manifest.config.n_layer}x${manifest.config.n_embd}): ` +
          `load ${loadMs.toFixed(0)} ms, first forward (${prompt.length} tokens) ${firstMs.toFixed(1)} ms, ` +
          `${perToken.toFixed(2)} ms/token over ${steps} steps (past ${prompt.length}..${prompt.length + steps}), ` +
          `wasm heap ${mb(heapLoaded)} MB after load, ${mb(rt.heapBytes())} MB after ${steps} tokens`,
      );
      expect(perToken).toBeGreaterThan(0);
    });
  });
}

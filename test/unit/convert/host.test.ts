/**
 * The host-attention layout (the converter's default): n_layer + 1 ORT segments, attention / KV cache /
 * embeddings / LM head in worker/kernels, run by HostCausalLM through the Worker's own loader.
 * - the trained checkpoint in fp32 against torch's fixtures (1e-4, identical greedy continuations);
 * - int8 against fp32 on held-out Brown text;
 * - a synthetic model against the same weights with attention inside ORT, across KV-cache growth
 *   (blocks of 64 positions), batches, selectRows — and no kernel memory left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import { brownSplit, tokenizeDocs } from '../../../scripts/train/brown.ts';
import { argmax, logSoftmax } from '../../../worker/generation/logits.ts';
import type { CausalLM, KVCache } from '../../../worker/generation/types.ts';
import { loadModel } from '../../../worker/model/load-model.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { REFERENCE_FIXTURE, cachedConversion } from '../../helpers/bundled-checkpoint.ts';
import { convertQuiet, maxAbsDiff, synth, tempDir } from '../../helpers/synth-fixtures.ts';

interface Prompt {
  name: string;
  ids: number[];
  last_logits: { top_ids: number[]; top_values: number[] };
  greedy_new_ids: number[];
}
const fx = JSON.parse(readFileSync(REFERENCE_FIXTURE, 'utf8')) as {
  prompts: Prompt[];
  hidden_states: { ids: number[]; values: number[][] };
  prompt_logprobs: { ids: number[]; token_logprobs: number[] };
};
const TOL = 1e-4;
const tmp = tempDir('host');
const out = join(tmp.dir, 'out');
const lms = new Map<string, CausalLM>();
const kernels = () => nodeOrt().kernels!();

async function load(id: string, dir = out, as = id) {
  const m = await loadModel(fsBlobSource(dir), id, { runtime: nodeOrt(), log: () => {} });
  lms.set(as, m.lm);
  return m;
}

beforeAll(async () => {
  // The bundled checkpoint in the default (host-attention) layout, cached under .tmp/test-models/.
  for (const quant of ['fp32', 'int8'] as const) {
    const id = `host-${quant}`;
    const { manifest } = await load(id, await cachedConversion({ id, quant }), quant);
    expect(manifest.layout).toBe('host-attention');
    expect(manifest.stages[0]!.segments).toHaveLength(manifest.config.n_layer + 1);
  }
  // Long enough a context to grow the cache block twice (64 → 128 → 192 positions).
  const sck = await synth(join(tmp.dir, 'synth'), { n_positions: 256, initStd: 0.1 });
  await convertQuiet({ input: sck, out, id: 'synth', quant: 'fp32' });
  await convertQuiet({ input: sck, out, id: 'synth-graph', quant: 'fp32', attention: 'graph' });
  await load('synth');
  await load('synth-graph');
}, 180_000);
afterAll(() => tmp.cleanup());

const lm = (id: string) => lms.get(id)!;
const V = 50257;

async function greedy(m: CausalLM, prompt: number[], n: number): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  let r = await m.forward({ inputIds: [prompt], cache: null, logitsFor: 'last' });
  const tokens: number[] = [];
  const logits: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    logits.push(r.logits);
    tokens.push(argmax(r.logits));
    r = await m.forward({ inputIds: [[tokens.at(-1)!]], cache: r.cache, logitsFor: 'last' });
  }
  m.release(r.cache);
  return { tokens, logits };
}

describe('host-attention fp32 vs torch (trained checkpoint)', () => {
  it.each(fx.prompts.map((p) => [p.name, p] as const))('%s: last logits within 1e-4, identical greedy continuation', async (_, p) => {
    const r = await lm('fp32').forward({ inputIds: [p.ids], cache: null, logitsFor: 'last' });
    const diff = Math.max(...p.last_logits.top_ids.map((id, i) => Math.abs(r.logits[id]! - p.last_logits.top_values[i]!)));
    expect(diff).toBeLessThan(TOL);
    lm('fp32').release(r.cache);
    expect((await greedy(lm('fp32'), p.ids, p.greedy_new_ids.length)).tokens).toEqual(p.greedy_new_ids);
  });

  it('hidden states after ln_f and prompt log-probs within 1e-4', async () => {
    const h = fx.hidden_states;
    const r = await lm('fp32').forward({ inputIds: [h.ids], cache: null, logitsFor: 'last', hidden: true });
    expect(maxAbsDiff(r.hidden!, h.values.flat())).toBeLessThan(TOL);
    lm('fp32').release(r.cache);
    const p = fx.prompt_logprobs;
    const all = await lm('fp32').forward({ inputIds: [p.ids], cache: null, logitsFor: 'all' });
    for (let i = 1; i < p.ids.length; i++) {
      const lp = logSoftmax(all.logits.subarray((i - 1) * V, i * V));
      expect(Math.abs(lp[p.ids[i]!]! - p.token_logprobs[i]!)).toBeLessThan(TOL);
    }
    lm('fp32').release(all.cache);
  });

  it('int8 agrees with fp32 on the top token at >= 98% of 1,024 held-out Brown positions', async () => {
    const ids = Array.from(tokenizeDocs(brownSplit().val.slice(0, 3)).subarray(0, 1024));
    let agree = 0;
    for (let w = 0; w < ids.length; w += 128) {
      const win = ids.slice(w, w + 128);
      const [a, b] = [
        await lm('fp32').forward({ inputIds: [win], cache: null, logitsFor: 'all' }),
        await lm('int8').forward({ inputIds: [win], cache: null, logitsFor: 'all' }),
      ];
      for (let i = 0; i < win.length; i++)
        agree += Number(argmax(a.logits.subarray(i * V, (i + 1) * V)) === argmax(b.logits.subarray(i * V, (i + 1) * V)));
      lm('fp32').release(a.cache);
      lm('int8').release(b.cache);
    }
    // 98.9 % measured: the model's next-token distributions are flat (perplexity ~200 here), so int8 rounding
    // flips some near-ties; convert-trained.test.ts bounds the perplexity cost (0.06 % measured, < 1 % asserted).
    expect(agree / ids.length).toBeGreaterThanOrEqual(0.98);
  }, 120_000);
});

describe('host-attention vs in-graph attention (synthetic, same weights)', () => {
  const SV = 300;

  it('decodes 150 steps past two cache-block boundaries with the same logits as MultiHeadAttention in ORT', async () => {
    const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % SV);
    const host = await greedy(lm('synth'), prompt, 150);
    const graph = await greedy(lm('synth-graph'), prompt, 150);
    expect(host.tokens).toEqual(graph.tokens);
    host.logits.forEach((l, i) => expect(maxAbsDiff(l, graph.logits[i]!), `step ${i}`).toBeLessThan(1e-4));
  });

  it('prefill in chunks, batches and selectRows agree with one call, and free every byte they took', async () => {
    const before = kernels().liveBytes();
    const ids = Array.from({ length: 100 }, (_, i) => (i * 53 + 7) % SV);
    const one = await lm('synth').forward({ inputIds: [ids], cache: null, logitsFor: 'all', hidden: true });
    let c: KVCache | null = null;
    const parts: Float32Array[] = [];
    for (let s = 0; s < ids.length; s += 30) {
      const r = await lm('synth').forward({ inputIds: [ids.slice(s, s + 30)], cache: c, logitsFor: 'all' });
      parts.push(r.logits);
      c = r.cache;
    }
    expect(maxAbsDiff(Float32Array.from(parts.flatMap((p) => [...p])), one.logits)).toBeLessThan(1e-4);
    const ref = await lm('synth-graph').forward({ inputIds: [ids], cache: null, logitsFor: 'all', hidden: true });
    expect(maxAbsDiff(one.hidden!, ref.hidden!)).toBeLessThan(1e-4);

    const tiled = lm('synth').selectRows(c!, [0, 0, 0]);
    const batch = await lm('synth').forward({ inputIds: [[5], [6], [7]], cache: tiled, logitsFor: 'last' });
    const picked = lm('synth').selectRows(batch.cache, [2, 0]);
    const again = await lm('synth').forward({ inputIds: [[9], [9]], cache: picked, logitsFor: 'last' });
    for (const [row, next] of [7, 5].entries()) {
      const alone = await lm('synth').forward({ inputIds: [[...ids, next, 9]], cache: null, logitsFor: 'last' });
      expect(maxAbsDiff(again.logits.subarray(row * SV, (row + 1) * SV), alone.logits)).toBeLessThan(1e-4);
      lm('synth').release(alone.cache);
    }
    for (const x of [one.cache, c!, batch.cache, again.cache]) lm('synth').release(x);
    lm('synth-graph').release(ref.cache);
    expect(kernels().liveBytes()).toBe(before);
  });

  it('a capacity hint reserves the cache once: decoding up to it takes no more memory', async () => {
    const m = lm('synth');
    const before = kernels().liveBytes();
    let r = await m.forward({ inputIds: [[1, 2, 3]], cache: null, logitsFor: 'last', capacity: 200 });
    const reserved = kernels().liveBytes() - before;
    expect(reserved).toBeGreaterThanOrEqual(3 * 2 * 200 * 48 * 4); // layers × (k, v) × positions × n_embd × f32
    for (let i = 0; i < 150; i++) r = await m.forward({ inputIds: [[(i * 7) % SV]], cache: r.cache, logitsFor: 'last' });
    expect(kernels().liveBytes() - before).toBe(reserved);
    m.release(r.cache);
    expect(kernels().liveBytes()).toBe(before);
  });

  it('a consumed cache cannot be used again', async () => {
    const r = await lm('synth').forward({ inputIds: [[1, 2, 3]], cache: null, logitsFor: 'last' });
    const n = await lm('synth').forward({ inputIds: [[4]], cache: r.cache, logitsFor: 'last' });
    await expect(lm('synth').forward({ inputIds: [[5]], cache: r.cache, logitsFor: 'last' })).rejects.toThrow(/after release/);
    expect(() => lm('synth').selectRows(r.cache, [0])).toThrow(/after release/);
    lm('synth').release(n.cache);
  });
});

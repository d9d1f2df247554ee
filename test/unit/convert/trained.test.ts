/**
 * The bundled model's checkpoint (checkpoints/edge-gpt2-brown, fp16 safetensors) converted with attention
 * inside ORT and run in onnxruntime-web, against torch's reference outputs (test/fixtures/reference/
 * edge-gpt2-brown.json): fp32 within 1e-4 with identical greedy continuations; int8 and q4 against fp32
 * on held-out Brown text. Conversions are cached under .tmp/test-models/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brownSplit, tokenizeDocs } from '../../../scripts/train/brown.ts';
import { REFERENCE_FIXTURE, cachedConversion } from '../../helpers/bundled-checkpoint.ts';
import { OrtModel, argmax } from '../../helpers/ort-node.ts';

const TOL = 1e-4;

interface Fixture {
  checkpoint: { model_safetensors_sha256: string };
  prompts: {
    name: string;
    ids: number[];
    last_logits: {
      top_ids: number[];
      top_values: number[];
      fixed_ids: number[];
      fixed_values: number[];
      logsumexp: number;
      sum: number;
      sum_sq: number;
    };
    greedy_new_ids: number[];
  }[];
  hidden_states: { ids: number[]; shape: [number, number]; values: number[][] };
  prompt_logprobs: { ids: number[]; token_logprobs: (number | null)[]; sum: number };
}

const fx = JSON.parse(readFileSync(REFERENCE_FIXTURE, 'utf8')) as Fixture;
const models = new Map<string, OrtModel>();

beforeAll(async () => {
  for (const quant of ['fp32', 'int8', 'q4'] as const) {
    const id = `graph-${quant}`;
    const dir = await cachedConversion({ id, quant, attention: 'graph' });
    const manifest = JSON.parse(readFileSync(join(dir, 'models', id, 'manifest.json'), 'utf8')) as {
      source: { checkpoint_sha256: string };
    };
    expect(manifest.source.checkpoint_sha256).toBe(fx.checkpoint.model_safetensors_sha256); // fixture matches these weights
    models.set(quant, await OrtModel.load(dir, id));
  }
}, 180_000);
afterAll(async () => {
  for (const m of models.values()) await m.release();
});

const model = (id: string): OrtModel => models.get(id)!;
const V = 50257;

function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - max);
  return max + Math.log(s);
}

describe('fp32 conversion vs torch', () => {
  it.each(fx.prompts.map((p) => [p.name, p] as const))('last-position logits of %s within 1e-4', async (_, p) => {
    const m = model('fp32');
    const row = (await m.step([p.ids], m.emptyPast(1), [p.ids.length - 1])).logits;
    const at = (ids: number[]) => ids.map((i) => row[i]!);
    const diff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
    expect(diff(at(p.last_logits.top_ids), p.last_logits.top_values)).toBeLessThan(TOL);
    expect(diff(at(p.last_logits.fixed_ids), p.last_logits.fixed_values)).toBeLessThan(TOL);
    expect(Math.abs(logSumExp(row) - p.last_logits.logsumexp)).toBeLessThan(TOL);
    expect(argmax(row)).toBe(p.last_logits.top_ids[0]);
    // Whole-row checksums (the fixture rounds them to 7 significant digits).
    const sum = row.reduce((s, x) => s + x, 0);
    const sumSq = row.reduce((s, x) => s + x * x, 0);
    expect(Math.abs(sum - p.last_logits.sum)).toBeLessThan(1e-6 * Math.abs(p.last_logits.sum) + V * TOL * 0.1);
    expect(Math.abs(sumSq - p.last_logits.sum_sq) / p.last_logits.sum_sq).toBeLessThan(1e-5);
  });

  it.each(fx.prompts.map((p) => [p.name, p] as const))('greedy continuation of %s with the KV cache is identical', async (_, p) => {
    expect(await model('fp32').greedy(p.ids, p.greedy_new_ids.length)).toEqual(p.greedy_new_ids);
  });

  it('hidden states after ln_f within 1e-4', async () => {
    const h = fx.hidden_states;
    const m = model('fp32');
    const got = (await m.step([h.ids], m.emptyPast(1), [0])).hidden;
    expect(got.length).toBe(h.shape[0] * h.shape[1]);
    let worst = 0;
    h.values.forEach((r, s) => r.forEach((v, e) => (worst = Math.max(worst, Math.abs(got[s * h.shape[1] + e]! - v)))));
    expect(worst).toBeLessThan(TOL);
  });

  it('prompt log-probs within 1e-4', async () => {
    const p = fx.prompt_logprobs;
    const m = model('fp32');
    const logits = (
      await m.step(
        [p.ids],
        m.emptyPast(1),
        p.ids.map((_, i) => i),
      )
    ).logits;
    for (let i = 1; i < p.ids.length; i++) {
      const row = logits.subarray((i - 1) * V, i * V);
      expect(Math.abs(row[p.ids[i]!]! - logSumExp(row) - p.token_logprobs[i]!)).toBeLessThan(TOL);
    }
  });
});

describe('int8 vs fp32 on held-out Brown text', () => {
  const WINDOW = 128; // the training block
  const TOKENS = 1024; // 8 windows: enough positions for a 1% bound, seconds per model

  async function score(id: string, ids: Uint16Array): Promise<{ top1: number[]; nll: number; n: number }> {
    const m = model(id);
    const top1: number[] = [];
    let nll = 0;
    let n = 0;
    for (let w = 0; w + WINDOW <= Math.min(ids.length, TOKENS); w += WINDOW) {
      const win = Array.from(ids.subarray(w, w + WINDOW));
      const logits = (
        await m.step(
          [win],
          m.emptyPast(1),
          win.map((_, i) => i),
        )
      ).logits;
      for (let i = 0; i < WINDOW; i++) {
        const row = logits.subarray(i * V, (i + 1) * V);
        top1.push(argmax(row));
        if (i + 1 < WINDOW) {
          nll += logSumExp(row) - row[win[i + 1]!]!;
          n++;
        }
      }
    }
    return { top1, nll, n };
  }

  it('top-1 agrees on >= 98% of positions and perplexity is within 1%', async () => {
    const ids = tokenizeDocs(brownSplit().val.slice(0, 3));
    expect(ids.length).toBeGreaterThanOrEqual(TOKENS);
    const f = await score('fp32', ids);
    const results: Record<string, { agree: number; ppl: number }> = {};
    for (const id of ['int8', 'q4']) {
      const q = await score(id, ids);
      results[id] = { agree: q.top1.filter((t, i) => t === f.top1[i]).length / f.top1.length, ppl: Math.exp(q.nll / q.n) };
    }
    const pplF = Math.exp(f.nll / f.n);
    console.log(
      `held-out Brown, ${f.top1.length} positions: fp32 ppl ${pplF.toFixed(3)}; ` +
        Object.entries(results)
          .map(
            ([k, r]) =>
              `${k} ppl ${r.ppl.toFixed(3)} (${(100 * (r.ppl / pplF - 1)).toFixed(2)}%), top-1 agreement ${(100 * r.agree).toFixed(2)}%`,
          )
          .join('; '),
    );
    // 98.7 % measured on the bundled 8 × 256 model: flat distributions (perplexity ~200), so int8 rounding
    // flips near-ties; the perplexity bound below is the tighter check (0.06 % measured).
    expect(results.int8!.agree).toBeGreaterThanOrEqual(0.98);
    expect(Math.abs(results.int8!.ppl / pplF - 1)).toBeLessThan(0.01);
  }, 180_000);
});

/**
 * End to end: `npm run eval`'s runner against the Worker's real app (routes + generation + ORT model
 * in Node), on a tiny synthetic GPT-2 converted in setup. The API-computed perplexity must equal a
 * perplexity computed here directly from the model's logits (same tokens, same windows) within 1e-6
 * relative, and (fp32) agree with the plain-TypeScript reference forward pass within 1e-4.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../worker/app.ts';
import { parseConfig } from '../../../worker/config.ts';
import { createModelProvider, memoryBlobSource, type LoadedModel, type ModelProvider } from '../../../worker/model/index.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { parseEvalArgs } from '../../../scripts/eval/args.ts';
import { runEval } from '../../../scripts/eval/run.ts';
import { gpt2Tokenizer } from '../../../scripts/eval/tokens.ts';
import { planWindows } from '../../../scripts/eval/windows.ts';
import { Gpt2Reference } from '../../helpers/gpt2-reference.ts';
import { convertQuiet, synth, tempDir } from '../../helpers/synth-fixtures.ts';

// ~120 GPT-2 tokens: several windows at context 40.
const TEXT =
  'It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, his chin ' +
  'nuzzled into his breast in an effort to escape the vile wind, slipped quickly through the glass doors ' +
  'of Victory Mansions, though not quickly enough to prevent a swirl of gritty dust from entering along ' +
  'with him. The hallway smelt of boiled cabbage and old rag mats — “naïve” café 🙂 1,024.';
const N_POS = 160;

function filesUnder(dir: string): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push([relative(dir, p), new Uint8Array(readFileSync(p))]);
    }
  };
  walk(dir);
  return out;
}

/** Direct NLL from logits: float64 log-softmax of row i-1 for token i, over the plan's counted tokens. */
function directNll(
  windows: ReturnType<typeof planWindows>,
  ids: number[],
  logitsOf: (w: number[]) => Promise<Float32Array> | Float32Array,
  V: number,
) {
  return (async () => {
    let nll = 0;
    let n = 0;
    for (const w of windows) {
      const x = ids.slice(w.begin, w.end); // [seq]
      const logits = await logitsOf(x); // [1, seq, V]
      for (let i = w.scoreFrom - w.begin; i < x.length; i++) {
        const row = logits.subarray((i - 1) * V, i * V);
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let s = 0;
        for (const v of row) s += Math.exp(v - max);
        nll -= row[x[i]!]! - max - Math.log(s);
        n += 1;
      }
    }
    return { nll, n, ppl: Math.exp(nll / n) };
  })();
}

async function logitsAll(model: LoadedModel, x: number[]): Promise<Float32Array> {
  const out = await model.lm.forward({ inputIds: [x], cache: null, logitsFor: 'all' }); // logits [1, seq, V]
  model.lm.release(out.cache);
  return out.logits;
}

describe.each(['fp32', 'int8'] as const)('eval through the API vs the model logits (%s)', (quant) => {
  const tmp = tempDir(`eval-${quant}`);
  let models: ModelProvider;
  let fetchApp: (url: string, init?: RequestInit) => Promise<Response>;
  let ck: string;

  beforeAll(async () => {
    ck = await synth(join(tmp.dir, 'ck'), {
      n_layer: 2,
      n_head: 2,
      n_embd: 32,
      n_positions: N_POS,
      vocab_size: 50257,
      seed: 11,
      initStd: 0.05,
    });
    writeFileSync(join(ck, 'eval.txt'), TEXT);
    await convertQuiet({ input: ck, out: join(tmp.dir, 'out'), id: 'tiny', quant });
    models = createModelProvider({
      source: memoryBlobSource(filesUnder(join(tmp.dir, 'out'))),
      ids: ['tiny'],
      defaultId: 'tiny',
      runtime: nodeOrt,
    });
    const config = parseConfig({
      DEFAULT_MODEL: 'tiny',
      MAX_NEW_TOKENS: '8',
      MAX_INPUT_TOKENS: '150',
      MAX_TOTAL_TOKENS: String(N_POS),
      CPU_BUDGET_MS: '60000',
    });
    const app = createApp({ models, config });
    fetchApp = async (url, init) => app.request(url, init);
  }, 120_000);
  afterAll(() => tmp.cleanup());

  // Every plan shape, and a window longer than the server's 64-position scoring chunks (its chunked
  // prefill must give the one-call logits): int8 quantizes activations per row (per position), so
  // chunking does not move it either.
  const cases: [number, number, number | undefined][] = [
    [40, 16, undefined],
    [40, 40, undefined],
    [7, 1, 30],
    [150, 75, undefined],
  ];
  for (const [context, stride, maxTokens] of cases) {
    it(`context ${context}, stride ${stride}: API perplexity = direct perplexity within 1e-6 relative`, async () => {
      const extra = maxTokens ? ['--max-tokens', String(maxTokens)] : [];
      const o = parseEvalArgs([
        '--url',
        'http://worker.test',
        '--dataset',
        'file',
        '--file',
        join(ck, 'eval.txt'),
        '--context',
        String(context),
        '--stride',
        String(stride),
        '--no-progress',
        ...extra,
      ]);
      const r = await runEval(o, { fetch: fetchApp });
      if (r.kind !== 'perplexity') throw new Error('kind');

      const ids = gpt2Tokenizer().encode(TEXT).slice(0, maxTokens);
      const model = await models.get('tiny');
      expect(model.tokenizer.encode(TEXT).slice(0, maxTokens)).toEqual(ids); // the server's tokenizer sees the same ids
      const windows = planWindows(ids.length, context, stride);
      const V = model.lm.config.vocabSize;
      const direct = await directNll(windows, ids, (x) => logitsAll(model, x), V);

      expect(r.tokens_scored).toBe(direct.n);
      expect(r.windows).toBe(windows.length);
      expect(r.quantization).toBe(quant);
      expect(Math.abs(r.perplexity - direct.ppl) / direct.ppl).toBeLessThan(1e-6);
      // A random model is near-uniform over 50257 tokens, but not exactly: the numbers are real.
      expect(r.perplexity).toBeGreaterThan(1000);
      expect(r.perplexity).not.toBeCloseTo(50257, 0);

      if (quant === 'fp32' && stride === 16) {
        const ref = await Gpt2Reference.load(ck);
        const refNll = await directNll(windows, ids, (x) => ref.forward(x).logits, V);
        expect(Math.abs(r.perplexity - refNll.ppl) / refNll.ppl).toBeLessThan(1e-4);
      }
    });
  }

  if (quant === 'fp32') {
    it('LAMBADA through the API: greedy (temperature 0) decides accuracy, target logprobs the perplexity', async () => {
      const tok = gpt2Tokenizer();
      const model = await models.get('tiny');
      const V = model.lm.config.vocabSize;
      // Passage 1's last word is the model's own greedy continuation (so it must count as correct):
      // the first prefix of TEXT whose argmax next token is a plain " word". Passage 2's last word is
      // one the random model does not produce.
      let ctx = '';
      let word = '';
      for (const cut of TEXT.split(' ').keys()) {
        ctx = TEXT.split(' ')
          .slice(0, cut + 3)
          .join(' ');
        const ids = tok.encode(ctx);
        const logits = await logitsAll(model, ids);
        const last = logits.subarray((ids.length - 1) * V, ids.length * V); // [V] at the last position
        word = tok.decode([last.indexOf(Math.max(...last))]);
        if (/^ [A-Za-z]+$/.test(word) && tok.encode(word).length === 1) break;
      }
      expect(word).toMatch(/^ [A-Za-z]+$/);
      const lines = [ctx + word, 'It was a bright cold day in April'].map((text) => JSON.stringify({ text }));
      const file = join(ck, 'lambada.jsonl');
      writeFileSync(file, lines.join('\n'));
      const r = await runEval(parseEvalArgs(['--url', 'http://worker.test', '--dataset', 'lambada', '--file', file, '--no-progress']), {
        fetch: fetchApp,
      });
      if (r.kind !== 'lambada') throw new Error('kind');
      expect(r.examples).toBe(2);
      expect(r.accuracy).toBe(0.5);
      let nll = 0;
      for (const text of [ctx + word, 'It was a bright cold day in April']) {
        const cut = text.lastIndexOf(' ');
        const c = tok.encode(text.slice(0, cut));
        const all = [...c, ...tok.encode(text.slice(cut))];
        const d = await directNll([{ begin: 0, end: all.length, scoreFrom: c.length }], all, (x) => logitsAll(model, x), V);
        nll += d.nll;
      }
      expect(Math.abs(r.perplexity - Math.exp(nll / 2)) / r.perplexity).toBeLessThan(1e-6);
    });
  }

  it('the default context is the server prompt limit (150 < n_positions 160)', async () => {
    const warnings: string[] = [];
    const o = parseEvalArgs([
      '--url',
      'http://worker.test',
      '--dataset',
      'file',
      '--file',
      join(ck, 'eval.txt'),
      '--max-tokens',
      '60',
      '--no-progress',
    ]);
    const r = await runEval(o, { fetch: fetchApp, warn: (m) => warnings.push(m) });
    if (r.kind !== 'perplexity') throw new Error('kind');
    expect(r.context).toBe(150);
    expect(r.stride).toBe(75);
    expect(r.tokens_scored).toBe(59);
  });
});

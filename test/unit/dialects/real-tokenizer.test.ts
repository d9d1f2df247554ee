/**
 * The routes over the real GPT-2 tokenizer (the bundled model's tokenizer.json from model-shards/)
 * and a fake 50257-way LM: odd but valid text never fails, offsets and UTF-8 deltas stay consistent.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../worker/app.ts';
import { createTokenizer } from '../../../worker/model/tokenizer.ts';
import type { LoadedModel, ModelProvider } from '../../../worker/model/types.ts';
import { parseManifest } from '../../../worker/model/manifest.ts';
import { FakeLM, hashLogits } from '../generation/fakes.ts';
import { json, parseSSE, testConfig } from './helpers.ts';

const root = new URL('../../../model-shards/', import.meta.url);
const manifest = parseManifest(JSON.parse(readFileSync(new URL('models/edge-gpt2-brown/manifest.json', root), 'utf8')));
const tokenizer = createTokenizer(JSON.parse(readFileSync(new URL(manifest.tokenizer.key, root), 'utf8')), manifest.config.eos_token_id);
const lm = new FakeLM(hashLogits(tokenizer.vocabSize, 3, 8), { vocabSize: tokenizer.vocabSize, nPositions: 128 });
const model: LoadedModel = { id: 'edge-gpt2-brown', manifest, lm, tokenizer };
const models: ModelProvider = {
  ids: ['edge-gpt2-brown'],
  defaultId: 'edge-gpt2-brown',
  get: async () => model,
  state: () => ({ state: 'ready' }),
  manifest: async () => model.manifest,
};
const app = createApp({ models, config: testConfig({ limits: { maxNewTokens: 16, maxInputTokens: 96, maxTotalTokens: 128 } }) });

const ODD = [
  '\ud800 lone high surrogate',
  'lone low \udfff',
  'NUL \u0000 and BEL \u0007',
  '👩‍👩‍👧‍👦 family, 🇫🇷 flag',
  '中文字符 and 日本語',
  'e\u0301 combining, \u202eRTL override',
  'literal <|endoftext|> in the text',
  '   \n\n\t  ',
  '\ufeffBOM first',
];

describe('real GPT-2 tokenizer', () => {
  it('odd but valid inputs are answered (200) on every dialect', async () => {
    for (const text of ODD) {
      const label = JSON.stringify(text);
      expect((await app.request('/generate', json({ inputs: text, parameters: { max_new_tokens: 3 } }))).status, label).toBe(200);
      expect((await app.request('/models/edge-gpt2-brown', json({ inputs: text, parameters: { max_new_tokens: 3 } }))).status, label).toBe(
        200,
      );
      expect((await app.request('/v1/completions', json({ prompt: text, max_tokens: 3, echo: true, logprobs: 1 }))).status, label).toBe(
        200,
      );
      const tok = await app.request('/tokenize', json({ inputs: text }));
      expect(tok.status, label).toBe(200);
      const spans = (await tok.json()) as { start: number; stop: number }[];
      expect(spans.at(-1)!.stop, label).toBe(Array.from(text).length);
    }
  });

  it('stream deltas concatenate to generated_text, for sampled byte-level output', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const res = await app.request(
        '/generate_stream',
        json({ inputs: '中文', parameters: { max_new_tokens: 16, do_sample: true, seed, details: true } }),
      );
      const events = parseSSE(await res.text()).data.map((d) => JSON.parse(d));
      const last = events.at(-1);
      expect(events.map((e) => e.token.text).join('')).toBe(last.generated_text);
      expect(last.generated_text).not.toMatch(/[\ud800-\udfff](?![\udc00-\udfff])/); // well-formed UTF-16
    }
  });

  it('echo + logprobs: tokens are strings or bytes:\\x.., offsets never decrease', async () => {
    const res = await (
      await app.request('/v1/completions', json({ prompt: '👩‍👧 ok', max_tokens: 4, echo: true, logprobs: 2, seed: 5 }))
    ).json();
    const lp = res.choices[0].logprobs;
    expect(lp.tokens.some((t: string) => t.startsWith('bytes:\\x'))).toBe(true);
    for (let i = 1; i < lp.text_offset.length; i++) expect(lp.text_offset[i]).toBeGreaterThanOrEqual(lp.text_offset[i - 1]);
    expect(lp.token_logprobs[0]).toBeNull();
  });
});

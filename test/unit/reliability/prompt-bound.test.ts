/**
 * Prompts are refused by length before tokenizing (issue 16: a 1 MB prompt cost 4.6 s of CPU for a
 * 422, /tokenize had no cap). Over the real GPT-2 tokenizer: the bound is sound (never refuses what
 * fits), refusal never calls encode, and `truncate` tokenizes only the tail yet keeps the same tokens.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../worker/app.ts';
import {
  TRUNCATE_MARGIN_TOKENS,
  encodeBounded,
  longestTokenBytes,
  maxPromptBytes,
  utf8Length,
} from '../../../worker/generation/prompt-bound.ts';
import type { TextTokenizer } from '../../../worker/generation/types.ts';
import { parseManifest } from '../../../worker/model/manifest.ts';
import { createTokenizer } from '../../../worker/model/tokenizer.ts';
import type { LoadedModel, ModelProvider } from '../../../worker/model/types.ts';
import { FakeLM, hashLogits } from '../generation/fakes.ts';
import { json, testConfig } from '../dialects/helpers.ts';

const root = new URL('../../../model-shards/', import.meta.url);
const manifest = parseManifest(JSON.parse(readFileSync(new URL('models/edge-gpt2-brown/manifest.json', root), 'utf8')));
const real = createTokenizer(JSON.parse(readFileSync(new URL(manifest.tokenizer.key, root), 'utf8')), manifest.config.eos_token_id);

/** The real tokenizer, counting the bytes it was asked to encode. */
function counting(tok: TextTokenizer) {
  const seen = { calls: 0, chars: 0 };
  const t: TextTokenizer = Object.create(tok) as TextTokenizer;
  Object.defineProperty(t, 'maxTokenBytes', { get: () => tok.maxTokenBytes });
  t.encode = (text) => {
    seen.calls++;
    seen.chars += text.length;
    return tok.encode(text);
  };
  return { t, seen };
}

const WORDS = ['the', 'jury', 'said', 'Fulton', 'county', '1962', 'élection', '—', 'naïve', '中文', '🙂', ',', '.', '\n', '  ', 'über'];
function text(seed: number, words: number): string {
  let x = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(WORDS[x % WORDS.length]!);
  }
  return out.join(' ');
}

describe('prompt bound', () => {
  it('the longest token is what the vocabulary says (scan = the tokenizer’s own figure)', () => {
    let scan = 0;
    for (let id = 0; id < real.vocabSize; id++) scan = Math.max(scan, real.tokenBytes(id).length);
    expect(real.maxTokenBytes).toBe(scan);
    expect(longestTokenBytes(real)).toBe(scan);
  });

  it('utf8Length matches TextEncoder (surrogate pairs, lone surrogates)', () => {
    for (const s of ['', 'abc', 'é', '中', '🙂x', '\ud800', 'a\udfffb', text(3, 200)])
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
  });

  it('is sound: texts within the bound are tokenized; every text that tokenizes to <= N tokens is within it', () => {
    for (let seed = 1; seed < 40; seed++) {
      const s = text(seed, 50 + seed * 7);
      const n = real.encode(s).length;
      expect(utf8Length(s)).toBeLessThanOrEqual(maxPromptBytes(real, n));
      expect(encodeBounded(real, s, n)).toEqual(real.encode(s));
    }
  });

  it('refuses a text over the bound without tokenizing it', () => {
    const { t, seen } = counting(real);
    const s = 'a'.repeat(maxPromptBytes(real, 48) + 1);
    expect(() => encodeBounded(t, s, 48)).toThrow(/MAX_INPUT_TOKENS/);
    expect(seen.calls).toBe(0);
  });

  it('truncate tokenizes only the tail and keeps the same last tokens', () => {
    const { t, seen } = counting(real);
    for (const seed of [5, 6, 7]) {
      const s = text(seed, 20_000);
      for (const keep of [1, 17, 48]) {
        seen.chars = 0;
        expect(encodeBounded(t, s, 48, keep)).toEqual(real.encode(s).slice(-keep));
        expect(seen.chars).toBeLessThanOrEqual((keep + TRUNCATE_MARGIN_TOKENS) * longestTokenBytes(real));
      }
    }
  });
});

describe('routes refuse long prompts before tokenizing', () => {
  const { t, seen } = counting(real);
  const lm = new FakeLM(hashLogits(real.vocabSize, 3, 8), { vocabSize: real.vocabSize, nPositions: 128 });
  const model: LoadedModel = { id: 'edge-gpt2-brown', manifest, lm, tokenizer: t };
  const models: ModelProvider = {
    ids: ['edge-gpt2-brown'],
    defaultId: 'edge-gpt2-brown',
    get: async () => model,
    state: () => ({ state: 'ready' }),
    manifest: async () => manifest,
  };
  const app = createApp({
    models,
    config: testConfig({ maxBodyBytes: 4 << 20, limits: { maxNewTokens: 16, maxInputTokens: 96, maxTotalTokens: 128 } }),
  });
  const huge = 'word '.repeat(200_000); // 1 MB

  it('TGI 422, HF 400, OpenAI 400 context_length_exceeded, /tokenize 422 — all naming the cap', async () => {
    seen.calls = 0;
    const tgi = await app.request('/generate', json({ inputs: huge, parameters: { max_new_tokens: 1 } }));
    expect(tgi.status).toBe(422);
    expect((await tgi.json()).error).toMatch(
      /^input is 1000000 bytes, longer than 96 tokens \(MAX_INPUT_TOKENS\) can be: at most \d+ bytes/,
    );
    const hf = await app.request('/models/edge-gpt2-brown', json({ inputs: huge }));
    expect(hf.status).toBe(400);
    const oa = await app.request('/v1/completions', json({ prompt: [huge, 'x'] }));
    expect(oa.status).toBe(400);
    expect((await oa.json()).error).toMatchObject({ code: 'context_length_exceeded', param: 'max_input_tokens' });
    const stream = await app.request('/generate_stream', json({ inputs: huge }));
    expect(stream.status).toBe(422);
    const tok = await app.request('/tokenize', json({ inputs: huge }));
    expect(tok.status).toBe(422);
    expect((await tok.json()).error).toMatch(/^inputs is 1000000 bytes/);
    expect(seen.calls).toBe(0);
  });

  it('TGI truncate still answers a long prompt, tokenizing only its tail', async () => {
    seen.chars = 0;
    const res = await app.request(
      '/generate',
      json({ inputs: huge, parameters: { max_new_tokens: 1, truncate: 10, decoder_input_details: true, details: true } }),
    );
    expect(res.status).toBe(200);
    expect((await res.json()).details.prefill).toHaveLength(10);
    expect(seen.chars).toBeLessThan(huge.length / 10);
  });
});

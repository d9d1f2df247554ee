/**
 * The loop over the real GPT-2 vocabulary (50,257 ids): the tokenizer the Worker uses
 * (worker/model/tokenizer.ts over files built from js-tiktoken's GPT-2 ranks), with a FakeLM that
 * spells out a given token sequence. Streamed deltas must be whole characters and add up to
 * tokenizer.decode(ids) — including ids whose bytes are not valid UTF-8 on their own.
 */
import { describe, expect, it } from 'vitest';
import { buildGpt2TokenizerFiles } from '../../../scripts/tokenizer/index.ts';
import { defaultParams, generate, Utf8Detokenizer, type GenerationEvent } from '../../../worker/generation/index.ts';
import { createTokenizer } from '../../../worker/model/tokenizer.ts';
import { collect, FakeLM, isWellFormed, scriptedLogits } from './fakes.ts';

const files = buildGpt2TokenizerFiles();
const tok = createTokenizer(files['tokenizer.json'], 50256);
const V = tok.vocabSize;

/** [text, whether GPT-2 splits some character of it across tokens] */
const texts: [string, boolean][] = [
  ['Hello, world! naïve café', false],
  ['emoji 😀🎉 and a family 👨‍👩‍👧 and a flag 🇯🇵', true],
  ['CJK 中文字符 and kana ひらがな', true],
  ['combining e\u0301 and a\u0308\u0304', true],
];
/** The GPT-2 id of the single-byte token for byte b (the first 256 ids are the byte alphabet). */
const byteToken = (b: number): number => {
  for (let id = 0; id < 256; id++) if (tok.tokenBytes(id).length === 1 && tok.tokenBytes(id)[0] === b) return id;
  throw new Error(`no byte token for ${b}`);
};

async function streamOf(ids: number[]) {
  const prompt = [464]; // 'The'
  const lm = new FakeLM(
    scriptedLogits(V, (h) => ids[h.length - prompt.length] ?? tok.eosTokenId),
    { vocabSize: V, eosTokenId: tok.eosTokenId },
  );
  return collect(generate(lm, tok, prompt, { ...defaultParams(), maxNewTokens: ids.length + 1 }));
}
const tokenTexts = (events: GenerationEvent[]) => events.flatMap((e) => (e.type === 'token' ? [e.text] : []));

describe('generation with the GPT-2 tokenizer', () => {
  it('has the GPT-2 vocabulary', () => {
    expect(V).toBe(50257);
    expect(tok.isSpecial(50256)).toBe(true);
  });

  for (const [text, splits] of texts) {
    it(`streams whole characters that add up to the text: ${JSON.stringify(text)}`, async () => {
      const ids = tok.encode(text);
      expect(ids.some((id) => tok.decode([id]).includes('\uFFFD'))).toBe(splits); // the case is what it claims
      const events = await streamOf(ids);
      const deltas = tokenTexts(events);
      for (const d of deltas) expect(isWellFormed(d) && !d.includes('\uFFFD')).toBe(true);
      if (splits) expect(deltas.slice(0, -1)).toContain(''); // a token that completed no character
      expect(deltas.join('')).toBe(text);
      expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'eos_token', text });
    });
  }

  it('ids that are invalid UTF-8 on their own decode as a full decode does', async () => {
    // Lone byte tokens: 0xF0 (4-byte lead), 0x9F (continuation), then 'A', then a dangling 0xE4.
    const ids = [byteToken(0x78), byteToken(0xf0), byteToken(0x9f), byteToken(0x41), byteToken(0xe4)];
    expect(tok.decode(ids)).toBe('x\uFFFDA\uFFFD');
    const d = new Utf8Detokenizer();
    const incremental = ids.map((id) => d.push(tok.tokenBytes(id))).join('') + d.flush();
    expect(incremental).toBe(tok.decode(ids));
    const events = await streamOf(ids);
    expect(tokenTexts(events).join('')).toBe(tok.decode(ids));
  });
});

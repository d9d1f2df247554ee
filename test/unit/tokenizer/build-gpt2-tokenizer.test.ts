/**
 * The GPT-2 tokenizer files we derive from js-tiktoken's r50k_base, loaded in
 * @huggingface/tokenizers (what the Worker uses), must give exactly the ids of
 * js-tiktoken r50k_base (GPT-2's encoding) and decode back to the same text.
 *
 * Special token in user text: HF matches added tokens before pre-tokenizing,
 * so "<|endoftext|>" typed in a prompt becomes id 50256 — the same as
 * transformers' GPT2TokenizerFast and js-tiktoken's encode(text, 'all').
 * js-tiktoken's plain encode(text) refuses such text instead; we compare HF
 * with encode(text, 'all').
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { getEncoding } from 'js-tiktoken';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGpt2TokenizerFiles, writeGpt2Tokenizer, EOS_ID } from '../../../scripts/tokenizer/index.ts';

const WIKITEXT = '../shared/data/wikitext-2-raw/wiki.test.raw';
const tiktoken = getEncoding('r50k_base');
const files = buildGpt2TokenizerFiles();
let hf: Tokenizer;

beforeAll(() => {
  hf = new Tokenizer(files['tokenizer.json'], files['tokenizer_config.json']);
});

const hfIds = (text: string): number[] => hf.encode(text).ids;

/**
 * Cuts text only between a non-space and a space character. No GPT-2
 * pre-tokenizer match spans such a point and none looks behind, so encoding
 * the pieces one by one gives the ids of the whole text; both tokenizers get
 * the same pieces. Pieces of ~4 KB keep each encode() call small.
 */
function pieces(text: string, size = 4096): string[] {
  const out: string[] = [];
  let piece = '';
  for (const cut of text.split(/(?<=\S)(?=\s)/)) {
    piece += cut;
    if (piece.length >= size) {
      out.push(piece);
      piece = '';
    }
  }
  if (piece !== '') out.push(piece);
  return out;
}

const EDGE_CASES: Record<string, string> = {
  ascii: 'Hello, world! The quick brown fox jumps over the lazy dog.',
  contractions: "I'm sure they'll say it's fine, we'd've known, don't you think? 'S 'T",
  emojiZwj: 'family 👨‍👩‍👧‍👦 and 🏳️‍🌈 flag, skin tone 👍🏽, keycap 1️⃣',
  cjk: '日本語のテキストと中文文本，한국어 텍스트。',
  combining: 'e\u0301 vs é, a\u0308\u0304, Z\u0351\u0364\u0357a\u0308lgo',
  rtl: 'שלום עולם مرحبا بالعالم \u200f\u202e reversed \u202c',
  whitespaceRuns: 'a  b   c    d\t\te \u00a0f\u3000g          end   ',
  newlines: 'line one\nline two\n\nline four\r\nwindows\r\n\r\n\n\n   \n indented',
  leadingSpace: '   leading spaces and trailing\n',
  numbers: '3.14159 1,000,000 2024-11-25 0x1F 1e-5 ½ ² ٣',
  punctuation: '"quoted" (paren) [bracket] {brace} <angle> --- ... !?!? @#$%^&*_+=|\\~`',
  control: 'nul\u0000 bell\u0007 del\u007f',
  lone: '\u00ff\u0100 Ġ Ċ ĉ',
};

describe('derived GPT-2 tokenizer files', () => {
  it('have GPT-2 vocab size, special token and merge list', () => {
    const vocab = files['vocab.json'];
    expect(Object.keys(vocab)).toHaveLength(50257);
    expect(vocab['<|endoftext|>']).toBe(EOS_ID);
    expect(vocab['Ġthe']).toBe(262);
    expect(vocab['!']).toBe(0);
    expect(vocab['Ġ']).toBe(220);
    expect(vocab['Ċ']).toBe(198);
    const lines = files['merges.txt'].trimEnd().split('\n');
    expect(lines[0]).toBe('#version: 0.2');
    expect(lines).toHaveLength(50001);
    expect(lines.slice(1, 6)).toEqual(['Ġ t', 'Ġ a', 'h e', 'i n', 'r e']);
    // Merge i (1-based line i) creates the token of rank 255 + i.
    const inverse = new Map(Object.entries(vocab).map(([k, v]) => [v, k]));
    for (const i of [1, 2, 100, 25000, 50000]) expect(lines[i]!.replace(' ', '')).toBe(inverse.get(255 + i));
  });

  it('writes the five HF files into a directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpt2-tok-'));
    try {
      writeGpt2Tokenizer(dir);
      for (const f of ['vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
        expect(existsSync(join(dir, f))).toBe(true);
      }
      const loaded = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as (typeof files)['tokenizer.json'];
      expect(loaded).toEqual(files['tokenizer.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('@huggingface/tokenizers on our tokenizer.json equals js-tiktoken r50k_base', () => {
  it('on every piece of WikiText-2 test (raw)', () => {
    const text = readFileSync(WIKITEXT, 'utf8');
    let tokens = 0;
    for (const piece of pieces(text)) {
      const expected = tiktoken.encode(piece);
      const actual = hfIds(piece);
      if (actual.length !== expected.length || actual.some((id, i) => id !== expected[i])) {
        expect({ piece, actual }).toEqual({ piece, actual: expected }); // shows the failing piece
      }
      tokens += expected.length;
    }
    expect(tokens).toBeGreaterThan(280_000);
  }, 120_000);

  it('pieces encode like the whole text (the cut rule holds)', () => {
    const text = readFileSync(WIKITEXT, 'utf8').slice(0, 60_000);
    expect(pieces(text, 500).flatMap((p) => tiktoken.encode(p))).toEqual(tiktoken.encode(text));
  });

  for (const [name, text] of Object.entries(EDGE_CASES)) {
    it(`edge case: ${name}`, () => {
      expect(hfIds(text)).toEqual(tiktoken.encode(text));
      expect(hf.decode(hfIds(text))).toBe(text);
      expect(tiktoken.decode(hfIds(text))).toBe(text);
    });
  }

  it('empty text: no ids; HF decode([]) throws (callers must not decode an empty list)', () => {
    expect(hfIds('')).toEqual([]);
    expect(tiktoken.encode('')).toEqual([]);
    expect(() => hf.decode([])).toThrow(/non-empty/);
  });

  it('treats <|endoftext|> in text as the special token, like encode(text, "all")', () => {
    const text = 'end of one.<|endoftext|>Start of two <|endoftext|><|endoftext|> x<|endoftext';
    const ids = hfIds(text);
    expect(ids).toEqual(tiktoken.encode(text, 'all'));
    expect(ids.filter((id) => id === EOS_ID)).toHaveLength(3);
    expect(() => tiktoken.encode(text)).toThrow(/special token/);
    expect(hf.decode(ids)).toBe(text);
    expect(hf.decode(ids, { skip_special_tokens: true })).toBe(text.replaceAll('<|endoftext|>', ''));
  });

  it('decode(encode(x)) round-trips a WikiText slice byte for byte', () => {
    const text = readFileSync(WIKITEXT, 'utf8').slice(100_000, 140_000);
    expect(hf.decode(hfIds(text))).toBe(text);
  });
});

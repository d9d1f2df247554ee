import { describe, expect, it } from 'vitest';
import { createTokenizer } from '../../../worker/model/tokenizer.ts';
import { gpt2TokenizerBytes } from './fixtures/model-files.ts';

describe('createTokenizer (GPT-2 tokenizer.json)', () => {
  const tok = createTokenizer(JSON.parse(new TextDecoder().decode(gpt2TokenizerBytes())), 50256);

  it('encodes like GPT-2 and round-trips text exactly', () => {
    expect(tok.encode('Hello, world!')).toEqual([15496, 11, 995, 0]);
    for (const text of ['  two  spaces ', 'naïve café 😀', "it's <|endoftext|> ok", 'line\r\nbreak\t']) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eosTokenId).toBe(50256);
  });

  it('tokenBytes gives raw bytes, including partial UTF-8 characters', () => {
    expect(Array.from(tok.tokenBytes(220))).toEqual([0x20]); // 'Ġ' is the space byte
    const ids = tok.encode('😀');
    expect(ids.length).toBeGreaterThan(1); // byte-level BPE splits the emoji
    const bytes = ids.flatMap((id) => Array.from(tok.tokenBytes(id)));
    expect(bytes).toEqual(Array.from(new TextEncoder().encode('😀')));
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(tok.tokenBytes(ids[0]!))).toThrow();
    expect(new TextDecoder().decode(tok.tokenBytes(50256))).toBe('<|endoftext|>');
    expect(() => tok.tokenBytes(99999)).toThrow(RangeError);
  });

  it('marks added special tokens', () => {
    expect(tok.isSpecial(50256)).toBe(true);
    expect(tok.isSpecial(15496)).toBe(false);
  });
});

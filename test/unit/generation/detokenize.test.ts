/**
 * The incremental detokenizer must equal a full decode for every way of splitting the byte stream
 * into tokens (eventsource-parser style: every awkward chunk boundary).
 */
import { describe, expect, it } from 'vitest';
import { Utf8Detokenizer } from '../../../worker/generation/detokenize.ts';
import { FakeTokenizer, isWellFormed } from './fakes.ts';

const utf8 = new TextEncoder();
const full = (b: Uint8Array) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b);

/** Every split of `bytes` into contiguous chunks (2^(n-1) of them; keep n small). */
function* splits(bytes: Uint8Array): Generator<Uint8Array[]> {
  const n = bytes.length;
  for (let mask = 0; mask < 1 << Math.max(0, n - 1); mask++) {
    const parts: Uint8Array[] = [];
    let start = 0;
    for (let i = 1; i < n; i++) {
      if (mask & (1 << (i - 1))) {
        parts.push(bytes.subarray(start, i));
        start = i;
      }
    }
    parts.push(bytes.subarray(start));
    yield parts;
  }
}

const cases: [string, Uint8Array][] = [
  ['emoji', utf8.encode('a😀b')],
  ['CJK', utf8.encode('中文')],
  ['combining sequence', utf8.encode('e\u0301\u0302!')],
  ['flag (two regional indicators)', utf8.encode('🇫🇷')],
  ['ZWJ family', utf8.encode('👨‍👩')],
  ['leading BOM kept', utf8.encode('\uFEFFhi')],
  ['lone continuation bytes', Uint8Array.of(0x61, 0x80, 0xbf, 0x62)],
  ['truncated 4-byte sequence mid-stream', Uint8Array.of(0xf0, 0x9f, 0x98, 0x41, 0xe4)],
  ['overlong and surrogate encodings', Uint8Array.of(0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x7a)],
  ['invalid lead bytes', Uint8Array.of(0xff, 0xfe, 0xf8, 0x41)],
  ['truncated at the end', Uint8Array.of(0x41, 0xe2, 0x82)],
];

describe('Utf8Detokenizer', () => {
  for (const [name, bytes] of cases) {
    it(`equals a full decode under every split: ${name}`, () => {
      const expected = full(bytes);
      let count = 0;
      for (const parts of splits(bytes)) {
        const d = new Utf8Detokenizer();
        const deltas = parts.map((p) => d.push(p));
        const text = deltas.join('') + d.flush();
        expect(text).toBe(expected);
        // Deltas are whole characters: no lone surrogates, and no U+FFFD that the full text lacks.
        for (const delta of deltas) expect(isWellFormed(delta)).toBe(true);
        count++;
      }
      expect(count).toBe(2 ** Math.max(0, bytes.length - 1));
    });
  }

  it('emits a character only once it is complete', () => {
    const d = new Utf8Detokenizer();
    expect(d.push(Uint8Array.of(0xf0, 0x9f))).toBe('');
    expect(d.push(Uint8Array.of(0x98))).toBe('');
    expect(d.push(Uint8Array.of(0x80, 0x21))).toBe('😀!');
    expect(d.flush()).toBe('');
  });

  it('matches the fake tokenizer decode for token sequences that split characters', () => {
    const tok = new FakeTokenizer();
    const sequences = [
      [256 + 6, 256 + 7, 256 + 1], // 😀 split as [f0 9f][98 80], then " world"
      [256 + 8, 256 + 9, 0x41], // 中 split as [e4 b8][ad 20]
      [256 + 6, 0x41, 256 + 7], // broken emoji: invalid bytes in the middle
      [256 + 10, 256 + 5], // combining vs precomposed é
      [0xe4, 256 + 8], // a truncated CJK lead followed by a new one
    ];
    for (const ids of sequences) {
      const d = new Utf8Detokenizer();
      expect(ids.map((id) => d.push(tok.tokenBytes(id))).join('') + d.flush()).toBe(tok.decode(ids));
    }
  });
});

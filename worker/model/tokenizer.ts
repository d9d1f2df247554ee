/**
 * TextTokenizer over @huggingface/tokenizers (pure JS: runs in workerd and Node) from the manifest's
 * tokenizer.json. `decode` keeps special tokens and does no space clean-up, so decode(ids) is exactly
 * the UTF-8 decoding of the concatenated tokenBytes — what incremental detokenization relies on.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type { TextTokenizer } from '../generation/types.ts';
import { bytesToUnicode } from './bytes-to-unicode.ts';

/** GPT-2's bytes_to_unicode, inverted: vocab character → the byte it stands for. */
function unicodeToByte(): Map<string, number> {
  return new Map(bytesToUnicode().map((char, byte) => [char, byte]));
}

export function createTokenizer(tokenizerJson: unknown, eosTokenId: number): TextTokenizer {
  const tok = new Tokenizer(tokenizerJson as object, { clean_up_tokenization_spaces: false });
  const added = tok.get_added_tokens_decoder();
  const special = new Set([...added].filter(([, t]) => t.special).map(([id]) => id));
  const vocabSize = tok.get_vocab(true).size;
  const byteOf = unicodeToByte();
  const encoder = new TextEncoder();
  const bytesCache = new Map<number, Uint8Array>();

  function tokenBytes(id: number): Uint8Array {
    const hit = bytesCache.get(id);
    if (hit) return hit;
    const token = tok.id_to_token(id);
    if (token === undefined) throw new RangeError(`token id ${id} is not in the vocabulary (size ${vocabSize})`);
    // Added tokens (<|endoftext|>) are stored as plain text; vocab entries in the byte-level alphabet.
    const chars = [...token];
    const bytes =
      added.has(id) || !chars.every((c) => byteOf.has(c)) ? encoder.encode(token) : Uint8Array.from(chars, (c) => byteOf.get(c)!);
    bytesCache.set(id, bytes);
    return bytes;
  }

  let maxTokenBytes: number | undefined;
  return {
    vocabSize,
    eosTokenId,
    // From the vocabulary's strings, without materializing every token's bytes: a byte-level entry is one
    // byte per character, an added token its UTF-8 length.
    get maxTokenBytes() {
      if (maxTokenBytes === undefined) {
        maxTokenBytes = 1;
        for (const [token, id] of tok.get_vocab(true)) {
          const chars = [...token];
          const n = added.has(id) || !chars.every((c) => byteOf.has(c)) ? encoder.encode(token).length : chars.length;
          if (n > maxTokenBytes) maxTokenBytes = n;
        }
      }
      return maxTokenBytes;
    },
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tok.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
    tokenBytes,
    isSpecial: (id) => special.has(id),
  };
}

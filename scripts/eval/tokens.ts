/**
 * Client-side GPT-2 tokenization for evaluation: js-tiktoken's r50k_base, which is GPT-2's BPE and
 * byte-exact to the Worker's tokenizer (scripts/tokenizer derives the Worker's tokenizer.json from the
 * same ranks). Tokenizing here sends one request per window instead of one /tokenize round trip per
 * text, and keeps the scored token ids identical whichever server is measured; `checkAgainstServer`
 * (client.ts) confirms the server agrees before a run.
 */
import { getEncoding } from 'js-tiktoken';
import r50k from 'js-tiktoken/ranks/r50k_base';
import { EOS_ID, parseRanks } from '../tokenizer/index.ts';

export interface EvalTokenizer {
  /** Text to ids; `<|endoftext|>` inside the text is encoded as ordinary text, never as the special token. */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** UTF-8 bytes the token stands for (0 for <|endoftext|>). */
  byteLength(id: number): number;
}

let cached: EvalTokenizer | undefined;

export function gpt2Tokenizer(): EvalTokenizer {
  if (cached) return cached;
  const enc = getEncoding('r50k_base');
  const lengths = Uint16Array.from(parseRanks(r50k.bpe_ranks), (b) => b.length); // [EOS_ID]
  cached = {
    encode: (text) => enc.encode(text, [], []),
    decode: (ids) => enc.decode([...ids]),
    byteLength: (id) => (id === EOS_ID ? 0 : (lengths[id] ?? 0)),
  };
  return cached;
}

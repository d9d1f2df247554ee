/**
 * Bounded work before the token budget: a prompt is refused by its length *before* it is tokenized,
 * because tokenizing costs CPU in proportion to the text (a 1 MB prompt took 4.6 s of CPU only to be
 * told it was over MAX_INPUT_TOKENS). No token is longer than `maxTokenBytes` bytes, so a prompt of
 * more than maxInputTokens × maxTokenBytes UTF-8 bytes cannot be maxInputTokens tokens or fewer.
 *
 * With TGI's `truncate` (keep the last N tokens) a longer prompt is legitimate: only its tail is
 * tokenized, (N + TRUNCATE_MARGIN_TOKENS) × maxTokenBytes bytes cut at a code-point boundary, and the
 * first token of that tail (which may be a piece of a token that started before the cut) is dropped.
 * Byte-level BPE works on pre-tokens (words, number runs, space runs) and resynchronizes at the next
 * pre-token boundary, so the last N tokens equal a whole-prompt tokenization's unless one pre-token
 * (e.g. a run of letters without spaces) spans the whole margin.
 */
import { BudgetError } from './budget.ts';
import type { TextTokenizer } from './types.ts';

export const TRUNCATE_MARGIN_TOKENS = 64;

const computed = new WeakMap<TextTokenizer, number>();

/** The longest token in bytes: the tokenizer's own figure, else (fakes) a scan of the vocabulary, once. */
export function longestTokenBytes(tokenizer: TextTokenizer): number {
  if (tokenizer.maxTokenBytes !== undefined) return tokenizer.maxTokenBytes;
  let n = computed.get(tokenizer);
  if (n === undefined) {
    n = 1;
    for (let id = 0; id < tokenizer.vocabSize; id++) n = Math.max(n, tokenizer.tokenBytes(id).length);
    computed.set(tokenizer, n);
  }
  return n;
}

/** UTF-8 length of `s` without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The most UTF-8 bytes a text of `maxTokens` tokens can have. */
export function maxPromptBytes(tokenizer: TextTokenizer, maxTokens: number): number {
  return maxTokens * longestTokenBytes(tokenizer);
}

/**
 * Throws a BudgetError (max_input_tokens) when `text` is too long to be `maxTokens` tokens, without
 * tokenizing it. `what` names the input in the message ("input", "inputs").
 */
export function assertPromptFits(tokenizer: TextTokenizer, text: string, maxTokens: number, what = 'input'): void {
  const maxBytes = maxPromptBytes(tokenizer, maxTokens);
  // Every UTF-16 unit is at least one UTF-8 byte: a string longer than the bound in units is over it.
  if (text.length <= maxBytes && utf8Length(text) <= maxBytes) return;
  throw new BudgetError(
    'max_input_tokens',
    maxTokens,
    maxTokens,
    `${what} is ${utf8Length(text)} bytes, longer than ${maxTokens} tokens (MAX_INPUT_TOKENS) can be: ` +
      `at most ${maxBytes} bytes (${maxTokens} × ${longestTokenBytes(tokenizer)}, the longest token)`,
  );
}

/**
 * Tokenizes a prompt with bounded work: refused by length when it cannot fit `maxInputTokens`; with
 * `truncate`, only the tail that can hold the last `truncate` tokens is tokenized (see above) and at
 * most `truncate` ids are returned.
 */
export function encodeBounded(tokenizer: TextTokenizer, text: string, maxInputTokens: number, truncate?: number | null): number[] {
  if (truncate == null) {
    assertPromptFits(tokenizer, text, maxInputTokens);
    return tokenizer.encode(text);
  }
  const keepBytes = (truncate + TRUNCATE_MARGIN_TOKENS) * longestTokenBytes(tokenizer);
  if (text.length <= keepBytes && utf8Length(text) <= keepBytes) return tokenizer.encode(text).slice(-truncate);
  // Walk back from the end until keepBytes bytes are covered; never split a surrogate pair.
  let bytes = 0;
  let i = text.length;
  while (i > 0 && bytes < keepBytes) {
    const c = text.charCodeAt(i - 1);
    const pair = (c & 0xfc00) === 0xdc00 && i >= 2 && (text.charCodeAt(i - 2) & 0xfc00) === 0xd800;
    bytes += pair ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    i -= pair ? 2 : 1;
  }
  return tokenizer.encode(text.slice(i)).slice(1).slice(-truncate);
}

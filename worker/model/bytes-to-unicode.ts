/**
 * GPT-2's `bytes_to_unicode` (openai/gpt-2 encoder.py): every byte maps to a
 * printable unicode character so BPE tokens can be stored as JSON strings.
 * Printable latin-1 bytes map to themselves; the other 68 bytes map to
 * U+0100 upward in byte order (so space 0x20 becomes 'Ġ' U+0120).
 * The reader (tokenizer.ts) inverts it; the writers (scripts/tokenizer, the synthetic checkpoints) use it as is.
 */
export function bytesToUnicode(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array<string>(256);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + next++);
  }
  return out;
}

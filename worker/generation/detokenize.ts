/**
 * Incremental UTF-8 detokenizer. GPT-2's byte-level BPE splits characters across tokens (an emoji is
 * often 2–3 tokens), so decoding token by token would print U+FFFD halves. We feed each token's raw
 * bytes to a streaming `TextDecoder`: it emits only complete characters and holds an incomplete
 * sequence until the next bytes arrive. The WHATWG UTF-8 decoder is a byte-at-a-time state machine,
 * so its output does not depend on where the input is split, and its error handling (one U+FFFD per
 * maximal invalid subpart) is the one `String.from_utf8_lossy` — and so HF `tokenizers`' ByteLevel
 * decoder — uses. Hence concat(push(...)…, flush()) === tokenizer.decode(allIds) for any split.
 */
export class Utf8Detokenizer {
  // ignoreBOM: keep a leading U+FEFF like a full decode does instead of swallowing it.
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** Text completed by these bytes ('' while a character is still incomplete). */
  push(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  /** End of stream: an incomplete trailing sequence becomes U+FFFD. The decoder can be reused after. */
  flush(): string {
    return this.decoder.decode();
  }
}

/** Prompt scoring (echo + logprobs, decoder_input_details): logprob of each prompt token given its prefix. */
import { logSumExp, topAlternatives } from './logits.ts';
import type { GenerationEvent, TextTokenizer } from './types.ts';

export type PromptTokens = Extract<GenerationEvent, { type: 'prompt' }>['tokens'];

/**
 * Scoring needs logits at every prompt position: [seq, vocab] floats, 206 MB for 1024 tokens of
 * GPT-2, more than a Worker isolate has (and WASM memory never shrinks). So the prefill runs in
 * chunks of this many positions and each chunk's rows are scored, then dropped.
 */
export const PROMPT_CHUNK = 64;

/** Positions per prefill forward when only the last logits are needed (see generate.ts). */
export const PREFILL_CHUNK = 128;

/**
 * Token j is scored by the row of position j − 1 of the raw model distribution (no penalties:
 * nothing has been generated); token 0 has no prefix, so its logprob is null (OpenAI echo and TGI
 * prefill do the same). Feed it the logits of consecutive chunks with `add`.
 */
export class PromptScorer {
  readonly tokens: PromptTokens = [];

  constructor(
    private readonly ids: readonly number[],
    private readonly vocabSize: number,
    private readonly tokenizer: TextTokenizer,
    private readonly topN: number,
  ) {
    const first = ids[0];
    if (first !== undefined) this.tokens.push({ id: first, text: tokenizer.decode([first]), logprob: null });
  }

  /** `logits` is [1, rows, vocab] for prompt positions start … start + rows − 1. */
  add(logits: Float32Array, start: number): void {
    const V = this.vocabSize;
    const rows = logits.length / V;
    for (let r = 0; r < rows; r++) {
      const id = this.ids[start + r + 1]; // the token position start + r predicts
      if (id === undefined) return;
      const row = logits.subarray(r * V, (r + 1) * V); // [vocab]
      const lse = logSumExp(row);
      const text = this.tokenizer.decode([id]);
      const logprob = row[id]! - lse;
      if (this.topN <= 0) {
        this.tokens.push({ id, text, logprob });
        continue;
      }
      const top = topAlternatives(row, this.topN, lse).map((t) => ({ ...t, text: this.tokenizer.decode([t.id]) }));
      this.tokens.push({ id, text, logprob, top });
    }
  }
}

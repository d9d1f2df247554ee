/** Prompt scoring (echo + logprobs, decoder_input_details): logprob of each prompt token given its prefix. */
import { logSumExp, topAlternatives } from './logits.ts';
import type { GenerationEvent, TextTokenizer } from './types.ts';

export type PromptTokens = Extract<GenerationEvent, { type: 'prompt' }>['tokens'];

/**
 * `logits` is [1, ids.length, vocab] from a prefill with logitsFor 'all'. Token j is scored by row
 * j − 1 of the raw model distribution (no penalties: nothing has been generated); token 0 has no
 * prefix, so its logprob is null (OpenAI echo and TGI prefill do the same).
 */
export function scorePrompt(
  logits: Float32Array,
  ids: readonly number[],
  vocabSize: number,
  tokenizer: TextTokenizer,
  topN: number,
): PromptTokens {
  return ids.map((id, j) => {
    const text = tokenizer.decode([id]);
    if (j === 0) return { id, text, logprob: null };
    const row = logits.subarray((j - 1) * vocabSize, j * vocabSize); // [vocab] of position j − 1
    const lse = logSumExp(row);
    const logprob = row[id]! - lse;
    if (topN <= 0) return { id, text, logprob };
    const top = topAlternatives(row, topN, lse).map((t) => ({ ...t, text: tokenizer.decode([t.id]) }));
    return { id, text, logprob, top };
  });
}

/**
 * What the JSON answer and the stream build alike for one choice: the prompt's text, the logprobs
 * accumulator with its running code-point offset, and OpenAI `echo` (the prompt's text and, with
 * logprobs, its scored tokens at the start of a choice).
 */
import type { Model, PromptEvent, TokenLogprob } from '../../service/types.ts';
import type { OpenAiPlan } from './params.ts';
import { codePoints, createLogprobs } from './wire.ts';

export const promptText = (model: Model, p: string | number[]) => (typeof p === 'string' ? p : model.tokenizer.decode(p));

/** Code-point offsets of each prompt token within the decoded prompt (bytes of partial characters wait). */
function promptOffsets(model: Model, ids: readonly number[]): number[] {
  const dec = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  let at = 0;
  return ids.map((id) => {
    const offset = at;
    at += codePoints(dec.decode(model.tokenizer.tokenBytes(id), { stream: true }));
    return offset;
  });
}

type Scored = { id: number; logprob: number; text: string; top?: readonly TokenLogprob[] };
const entry = (t: { id: number; logprob: number | null; top?: readonly TokenLogprob[] }) =>
  t.top ? { id: t.id, logprob: t.logprob, top: t.top } : { id: t.id, logprob: t.logprob };

/** One choice: its logprobs (null unless asked) and the offset of the next token's text. */
export function createChoice(plan: OpenAiPlan, model: Model, text0: string) {
  const lp = plan.logprobs !== null ? createLogprobs((id) => model.tokenizer.tokenBytes(id)) : null;
  let offset = codePoints(text0);
  return {
    lp,
    /** The echoed prompt's scored tokens (with logprobs; the first has none). */
    echo(prompt: PromptEvent | null): void {
      if (!lp || !prompt) return;
      const offsets = promptOffsets(
        model,
        prompt.tokens.map((t) => t.id),
      );
      prompt.tokens.forEach((t, i) => lp.add(entry(t), offsets[i]!));
    },
    /** A generated token. */
    add(t: Scored): void {
      lp?.add(entry(t), offset);
      offset += codePoints(t.text);
    },
  };
}

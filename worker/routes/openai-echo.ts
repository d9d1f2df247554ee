/**
 * OpenAI `echo`: the prompt's text and, with logprobs, its scored tokens at the start of a choice.
 */
import type { Model } from '../service/facts.ts';
import type { PromptEvent } from '../service/collect.ts';
import { codePoints, type createLogprobs } from '../wire/openai.ts';

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

/** One choice's echo part: the prompt text and (with logprobs) its scored tokens. */
export function echoInto(lp: ReturnType<typeof createLogprobs> | null, model: Model, prompt: PromptEvent | null): void {
  if (!lp || !prompt) return;
  const offsets = promptOffsets(model, prompt.tokens.map((t) => t.id));
  prompt.tokens.forEach((t, i) => lp.add(t.top ? { id: t.id, logprob: t.logprob, top: t.top } : { id: t.id, logprob: t.logprob }, offsets[i]!));
}


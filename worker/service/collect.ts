/**
 * Gathers a finished generation (non-streaming responses) into per-sequence results.
 */
import type { GenerationEvent } from '../generation/types.ts';
import { cancelled } from './errors.ts';

export type TokenEvent = Extract<GenerationEvent, { type: 'token' }>;
export type DoneEvent = Extract<GenerationEvent, { type: 'done' }>;
export type PromptEvent = Extract<GenerationEvent, { type: 'prompt' }>;

export interface SequenceResult {
  index: number;
  tokens: TokenEvent[];
  done: DoneEvent;
}

export interface CollectedGeneration {
  prompt: PromptEvent | null;
  sequences: SequenceResult[];
}

export async function collect(events: AsyncIterable<GenerationEvent>, signal?: AbortSignal): Promise<CollectedGeneration> {
  let prompt: PromptEvent | null = null;
  const tokens = new Map<number, TokenEvent[]>();
  const done = new Map<number, DoneEvent>();
  for await (const ev of events) {
    if (ev.type === 'prompt') prompt = ev;
    else if (ev.type === 'token') {
      let list = tokens.get(ev.sequence);
      if (!list) tokens.set(ev.sequence, (list = []));
      list.push(ev);
    } else done.set(ev.sequence, ev);
  }
  // An aborted generation ends early without `done` events: there is no answer to build.
  if (signal?.aborted) throw cancelled();
  const sequences = [...done.values()]
    .sort((a, b) => a.sequence - b.sequence)
    .map((d) => ({ index: d.sequence, tokens: tokens.get(d.sequence) ?? [], done: d }));
  return { prompt, sequences };
}

/** Sum of the generated tokens' logprobs (TGI best_of picks the highest). */
export function cumulativeLogprob(seq: SequenceResult): number {
  let sum = 0;
  for (const t of seq.tokens) sum += t.logprob;
  return sum;
}

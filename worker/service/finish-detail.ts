/**
 * Which limit ended each sequence of a request (issue 16, X-Finish-Detail): `run` passes its events
 * through `recordFinish`, keyed by the request's signal (one per request); http/finish-detail.ts reads
 * `finishDetailOf` once the handler has answered. One of max_new_tokens | context | cpu_budget |
 * quota | eos_token | stop_sequence per sequence.
 */
import type { GenerationEvent } from '../generation/types.ts';

/** The one word for which limit ended a sequence: its length limit, else its finish reason. */
export function finishDetail(done: Pick<Extract<GenerationEvent, { type: 'done' }>, 'finishReason' | 'limit'>): string {
  return done.limit ?? done.finishReason;
}

const finishes = new WeakMap<AbortSignal, Map<number, string>>();
const sequenceOffset = new WeakMap<AbortSignal, number>();

/** Passes `events` through, remembering each sequence's finish detail under `key`. */
export async function* recordFinish(
  events: AsyncGenerator<GenerationEvent, void, undefined>,
  key: AbortSignal | undefined,
): AsyncGenerator<GenerationEvent, void, undefined> {
  if (!key) return yield* events;
  let map = finishes.get(key);
  if (!map) finishes.set(key, (map = new Map()));
  // Several generations per request (OpenAI prompts) number their sequences after the previous ones.
  const base = sequenceOffset.get(key) ?? 0;
  let count = 0;
  try {
    for await (const ev of events) {
      if (ev.type === 'done') {
        map.set(base + ev.sequence, finishDetail(ev));
        count = Math.max(count, ev.sequence + 1);
      }
      yield ev;
    }
  } finally {
    sequenceOffset.set(key, base + count);
    await events.return(undefined);
  }
}

/** The finish details recorded under `key`, in sequence order, or undefined when none finished. */
export function finishDetailOf(key: AbortSignal): string | undefined {
  const map = finishes.get(key);
  if (!map || map.size === 0) return undefined;
  return [...map.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, d]) => d)
    .join(', ');
}

/**
 * Which limit ended each sequence. TGI's `finish_reason` and OpenAI's are fixed enums ("length" for
 * max_new_tokens, the context window and our CPU budget alike), so non-streaming answers also carry
 * `X-Finish-Detail: <per sequence, comma-separated>` with one of max_new_tokens | context |
 * cpu_budget | eos_token | stop_sequence. A header, because every client ignores headers it does not
 * know while a new body field can break strict parsers. Streams have sent their headers already.
 *
 * The engine's run() wraps its generator with `recordFinish`, keyed by the request's signal (one
 * per request); the `finishDetailHeader` middleware reads it once the handler has answered.
 */
import type { MiddlewareHandler } from 'hono';
import type { GenerationEvent } from '../generation/types.ts';

export const FINISH_DETAIL_HEADER = 'X-Finish-Detail';

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
        map.set(base + ev.sequence, ev.limit ?? ev.finishReason);
        count = Math.max(count, ev.sequence + 1);
      }
      yield ev;
    }
  } finally {
    sequenceOffset.set(key, base + count);
    await events.return(undefined);
  }
}

/** Middleware: sets X-Finish-Detail on a non-streaming answer whose generation finished. */
export function finishDetailHeader(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const map = finishes.get(c.req.raw.signal);
    if (!map || map.size === 0 || (c.res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return;
    const detail = [...map.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d).join(', ');
    c.res.headers.set(FINISH_DETAIL_HEADER, detail);
  };
}


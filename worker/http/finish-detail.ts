/**
 * Which limit ended each sequence. TGI's `finish_reason` and OpenAI's are fixed enums ("length" for
 * max_new_tokens, the context window and our CPU budget alike), so non-streaming answers also carry
 * `X-Finish-Detail: <per sequence, comma-separated>` with one of max_new_tokens | context |
 * cpu_budget | eos_token | stop_sequence. A header, because every client ignores headers it does not
 * know while a new body field can break strict parsers. Streams have sent their headers already.
 *
 * The service's run() wraps its generator with `recordFinish` (service/finish-detail.ts), keyed by the request's signal (one
 * per request); the `finishDetailHeader` middleware reads it once the handler has answered.
 */
import type { MiddlewareHandler } from 'hono';
import { finishDetailOf } from '../service/finish-detail.ts';

const FINISH_DETAIL_HEADER = 'X-Finish-Detail';

/** Middleware: sets X-Finish-Detail on a non-streaming answer whose generation finished. */
export function finishDetailHeader(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const detail = finishDetailOf(c.req.raw.signal);
    if (detail === undefined || (c.res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return;
    c.res.headers.set(FINISH_DETAIL_HEADER, detail);
  };
}

/**
 * Overload: one isolate interleaves its requests on one thread, so every request it accepts slows
 * every other; past a bound, latency grows without limit. The guard counts the isolate's requests
 * that may generate (POST, GET /generate_stream) until their handler has answered — the whole
 * generation for non-streaming requests, the model load and the budget checks for streams — and
 * answers one over `maxInFlight` at once with 503 + Retry-After (error_type "overloaded"; OpenAI code
 * "server_overloaded") instead of queueing it. Another isolate, or this one a moment later, takes the
 * retry.
 *
 * A stream is not held until its last byte: under `wrangler dev` a client that goes away mid-stream
 * leaves the response body neither read to its end nor cancelled, so such a slot was never given back
 * (measured: after 120 disconnects the isolate refused every request).
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.ts';

const DEFAULT_MAX_IN_FLIGHT = 64;

export function overloadGuard(maxInFlight = DEFAULT_MAX_IN_FLIGHT): MiddlewareHandler {
  let inFlight = 0;
  return async (c, next) => {
    if (c.req.method !== 'POST' && !(c.req.method === 'GET' && c.req.path === '/generate_stream')) return next();
    if (inFlight >= maxInFlight) {
      throw new ApiError('overloaded', `the server is busy (${inFlight} requests in progress on this instance); retry shortly`, {
        code: 'server_overloaded',
        headers: { 'Retry-After': '1' },
      });
    }
    inFlight++;
    try {
      await next();
    } finally {
      inFlight--;
    }
  };
}

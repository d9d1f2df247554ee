/**
 * Overload: one isolate interleaves its requests on one thread, so every request it accepts slows
 * every other; past a bound, latency grows without limit. The guard counts the isolate's requests
 * that may generate (POST, until the answer's body is finished or cancelled) and answers one over
 * `maxInFlight` at once with 503 + Retry-After (error_type "overloaded"; OpenAI code
 * "server_overloaded") instead of queueing it. Another isolate, or this one a moment later, takes
 * the retry.
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.ts';

export const DEFAULT_MAX_IN_FLIGHT = 64;

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
    let released = false;
    const release = () => {
      if (!released) (released = true), inFlight--;
    };
    try {
      await next();
    } catch (e) {
      release();
      throw e;
    }
    const body = c.res.body;
    if (!body) return release();
    // A streamed answer holds its slot until its last byte is read, it fails, or the client goes away.
    c.res = new Response(releasing(body, release), c.res);
    c.req.raw.signal.addEventListener('abort', release, { once: true });
  };
}

function releasing(body: ReadableStream<Uint8Array>, release: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        release();
        controller.error(e);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason).catch(() => {});
    },
  });
}

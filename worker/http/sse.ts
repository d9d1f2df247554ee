/**
 * SSE transport: Hono's streamSSE underneath, our byte-exact encoder on top. Three layers, as in
 * Hono's streaming helper: this file owns the writer, abort and headers; sse-encode.ts owns the bytes;
 * the dialects own what is said.
 *
 * - Client disconnect (the response stream cancelled, or the request's signal) aborts `signal`, which
 *   routes hand to generation so it stops at the next step. It is not an error: nothing more is written.
 * - An exception after the first byte becomes one dialect-shaped error event with a sanitized message,
 *   then the stream closes.
 * - Writes are serialized, so progress comments fired from callbacks never interleave with events.
 * - Generation never waits for the network: `send` queues and returns. A client that stops reading
 *   without its disconnect reaching us (a proxy that keeps the upstream open, as wrangler dev's does)
 *   would otherwise park the generator at its next event for good, holding its KV cache and its place in
 *   the step scheduler. The queue is bounded by the request's own events (max_new_tokens of them).
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { LoadProgress } from '../service/types.ts';
import { dialectOf } from './dialect.ts';
import { errorBody, toApiError } from './errors.ts';
import { encodeSSE, jsonMessage, type SSEMessage } from './sse-encode.ts';

export interface SSEChannel {
  /** Queues one message (in order with every other write; a no-op once the client is gone); never waits for the network. */
  send(msg: SSEMessage): Promise<void>;
  /** Queues a message from a synchronous callback (load progress); ordering is preserved. */
  post(msg: SSEMessage): void;
  readonly signal: AbortSignal;
}

/** An SSE response; a failure of `run` after the first byte becomes one error event in the route's dialect. */
export function sseResponse(c: Context, run: (ch: SSEChannel) => Promise<void>): Response {
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    const ac = new AbortController();
    stream.onAbort(() => ac.abort());
    const reqSignal = c.req.raw.signal;
    if (reqSignal.aborted) ac.abort();
    else reqSignal.addEventListener('abort', () => ac.abort(), { once: true });

    let queue: Promise<void> = Promise.resolve();
    // A write that fails means the client is gone (workerd: "Network connection lost"): that is a
    // disconnect, not an error — abort, and never leave the rejection unhandled.
    const write = (msg: SSEMessage): Promise<void> => {
      queue = queue.then(async () => {
        if (ac.signal.aborted) return;
        try {
          await stream.write(encodeSSE(msg));
        } catch {
          ac.abort();
        }
      });
      return queue;
    };
    const ch: SSEChannel = {
      send: (m) => {
        void write(m);
        return Promise.resolve();
      },
      post: (m) => void write(m),
      signal: ac.signal,
    };
    try {
      await run(ch);
    } catch (e) {
      const err = toApiError(e);
      if (err.type === 'internal') console.error('stream failed', e);
      await write(jsonMessage(errorBody(err, dialectOf(c))));
    }
    await queue;
  });
}

/**
 * Load progress as SSE comments (`: loading 35% (12.3/35.1 MB)`): keep-alive for proxies and a
 * progress bar for people. One comment per whole percent or phase change, not per callback.
 */
export function progressComments(ch: SSEChannel): (p: LoadProgress) => void {
  let last = '';
  return (p) => {
    const pct = p.totalBytes > 0 ? Math.floor((100 * p.loadedBytes) / p.totalBytes) : 0;
    const key = `${p.phase}:${pct}`;
    if (key === last) return;
    last = key;
    ch.post({ comment: progressText(p, pct) });
  };
}

function progressText(p: LoadProgress, pct: number): string {
  const mb = (b: number) => (b / 1e6).toFixed(1);
  if (p.phase === 'ready') return 'model ready';
  if (p.phase === 'session') return `loading: creating session${p.stage !== undefined ? ` for stage ${p.stage}` : ''}`;
  return `loading ${pct}% (${mb(p.loadedBytes)}/${mb(p.totalBytes)} MB)`;
}

/**
 * Work that must outlive the request that started it, handed to the Workers runtime's waitUntil.
 *
 * On Workers every promise a request awaits belongs to that request: when its client goes away, the
 * runtime cancels the request's timers and I/O. Work shared with other requests must not die with it:
 * a model load started by the first client (others join it), and a generation that holds a KV cache and
 * a place in the batching scheduler (it must reach its `finally` to release them). So the service hands
 * such work to `keepAlive`, which follows the request in an AsyncLocalStorage (as the quota meter does).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context, MiddlewareHandler } from 'hono';

type KeepAlive = (p: Promise<unknown>) => void;

/** The request's waitUntil, or undefined where there is no ExecutionContext (in-process tests). */
export function background(c: Context): KeepAlive {
  return (p) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      // No ExecutionContext (in-process tests): the promise still runs to completion.
    }
  };
}

const current = new AsyncLocalStorage<KeepAlive>();

/** Middleware: makes the request's waitUntil available to the service (currentKeepAlive). */
export function keepAliveContext(): MiddlewareHandler {
  return (c, next) => current.run(background(c), next);
}

/** The waitUntil of the request being served (a no-op outside one). */
export function currentKeepAlive(): KeepAlive {
  return current.getStore() ?? (() => {});
}

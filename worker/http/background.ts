/**
 * Work that outlives the response (a model load started for a client that would not wait): handed
 * to the Workers runtime's waitUntil, so the isolate is not stopped before it finishes.
 */
import type { Context } from 'hono';

export function background(c: Context): (p: Promise<unknown>) => void {
  return (p) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      // No ExecutionContext (in-process tests): the promise still runs to completion.
    }
  };
}

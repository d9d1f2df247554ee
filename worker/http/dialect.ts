/**
 * Which dialect a request speaks, so every error (auth, validation, a failed load, an unknown path)
 * is rendered in that dialect's shape. Each dialect's routes say it themselves: `speaks('openai')` is
 * the first handler of every OpenAI route. Errors thrown before it runs (auth) or for paths no route
 * handles (404s under a dialect's prefix, see app.ts) find it among the request's matched routes.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';

export type Dialect = 'tgi' | 'hf' | 'openai';

const DIALECT = Symbol('dialect');
type Tagged = MiddlewareHandler & { [DIALECT]?: Dialect };

const handlers: Record<Dialect, Tagged> = {
  tgi: tag('tgi'),
  hf: tag('hf'),
  openai: tag('openai'),
};

function tag(d: Dialect): Tagged {
  const h: Tagged = async (_c, next) => next();
  h[DIALECT] = d;
  return h;
}

/** The first handler of a route (or a prefix's middleware): marks the dialect the route speaks. */
export function speaks(d: Dialect): MiddlewareHandler {
  return handlers[d];
}

/** The dialect of the request's route; TGI (the server's native dialect) when none says. */
export function dialectOf(c: Context): Dialect {
  for (const r of matchedRoutes(c)) {
    const d = (r.handler as Tagged)[DIALECT];
    if (d !== undefined) return d;
  }
  return 'tgi';
}

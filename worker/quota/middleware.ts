/**
 * Hono middleware (after auth): finds the key's limits, refuses a key with nothing left (429 +
 * Retry-After before any work), runs the request with a Meter, and reports where the key stands in
 * OpenAI's headers: x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens.
 */
import type { MiddlewareHandler } from 'hono';
import { keyId, type QuotaConfig } from './config.ts';
import { rateLimitHeaders } from '../http/errors.ts';
import { QuotaExceeded, createMeter, runWithMeter } from './meter.ts';
import type { QuotaStore } from './store.ts';

export interface QuotaOptions {
  quotas: QuotaConfig;
  store: QuotaStore;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export function quotaMiddleware(opts: QuotaOptions | undefined): MiddlewareHandler {
  if (!opts || opts.quotas.size === 0) return async (_c, next) => next();
  const { quotas, store } = opts;
  return async (c, next) => {
    const m = BEARER.exec(c.req.header('authorization') ?? '');
    const key = m?.[1] ?? (c.req.method === 'GET' && c.req.path === '/generate_stream' ? c.req.query('api_key') : undefined);
    if (key === undefined || (c.req.method !== 'POST' && !(c.req.method === 'GET' && c.req.path === '/generate_stream'))) return next();
    const id = await keyId(key);
    const limits = quotas.get(id) ?? quotas.get('*');
    if (!limits) return next();
    const first = await store.peek(id, limits);
    if (!first.ok) throw new QuotaExceeded(first, 1); // rendered as a 429 by http/errors.ts
    const meter = createMeter(store, id, limits, first);
    await runWithMeter(meter, next);
    for (const [k, v] of Object.entries(rateLimitHeaders(meter.last))) c.res.headers.set(k, v);
  };
}

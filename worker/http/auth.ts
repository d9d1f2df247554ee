/**
 * Bearer-token auth against the API_KEYS secret, as a middleware factory (Hono's bearer-auth shape):
 * keys are hashed once, each request's token is hashed and compared with every key's digest in
 * constant time (no early exit on the first differing byte, none on the first matching key), so
 * response timing does not reveal how much of a key was right. No keys configured = open.
 *
 * EventSource cannot send headers, so GET /generate_stream also accepts `?api_key=`; nowhere else
 * (query strings end up in logs).
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.ts';

export interface AuthOptions {
  keys: readonly string[];
  /** Requests that need no key (health checks, the HTML page, CORS preflights). */
  isPublic(method: string, path: string, accept: string): boolean;
  /** Where `?api_key=` is accepted. */
  allowsQueryKey(method: string, path: string): boolean;
}

const encoder = new TextEncoder();

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(s)));
}

/** Constant-time equality of two 32-byte digests. */
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function bearerAuth(opts: AuthOptions): MiddlewareHandler {
  if (opts.keys.length === 0) return async (_c, next) => next();
  if (opts.keys.some((k) => k.length === 0)) throw new Error('bearerAuth: empty API key');
  let keyDigests: Promise<Uint8Array[]> | undefined;
  const unauthorized = (message: string) =>
    new ApiError('authentication', message, { code: 'invalid_api_key', headers: { 'WWW-Authenticate': 'Bearer' } });

  return async (c, next) => {
    if (c.req.method === 'OPTIONS' || opts.isPublic(c.req.method, c.req.path, c.req.header('accept') ?? '')) return next();
    let token: string | undefined;
    const header = c.req.header('authorization');
    if (header !== undefined) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
      if (!m) throw unauthorized('Authorization header must be "Bearer <api key>"');
      token = m[1];
    } else if (opts.allowsQueryKey(c.req.method, c.req.path)) {
      token = c.req.query('api_key');
    }
    if (token === undefined || token.length === 0) throw unauthorized('missing API key: send "Authorization: Bearer <api key>"');
    keyDigests ??= Promise.all(opts.keys.map(digest));
    const [keys, got] = await Promise.all([keyDigests, digest(token)]);
    let ok = false;
    for (const k of keys) ok = digestsEqual(k, got) || ok; // every key is compared, always
    if (!ok) throw unauthorized('invalid API key');
    return next();
  };
}

/**
 * CORS for browser clients via hono/cors: the configured origins, any request headers, and
 * the response headers they need to read (Retry-After on 503 loading, WWW-Authenticate on 401).
 * Preflights are answered here, before auth.
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

export function corsMiddleware(origins: '*' | readonly string[]): MiddlewareHandler {
  return cors({
    origin: origins === '*' ? '*' : [...origins],
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    // No fixed allow-list: the preflight's Access-Control-Request-Headers are echoed, because SDKs add
    // their own headers (the openai SDK sends X-Stainless-*) and a fixed list would break them.
    exposeHeaders: [
      'Retry-After',
      'WWW-Authenticate',
      'Content-Type',
      'X-Finish-Detail',
      'x-ratelimit-limit-tokens',
      'x-ratelimit-remaining-tokens',
      'x-ratelimit-reset-tokens',
    ],
    maxAge: 86400,
  });
}

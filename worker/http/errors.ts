/**
 * Typed HTTP errors and their wire shapes: the one place that maps the service's errors (ServiceError)
 * and the HTTP layer's own (ApiError) to each dialect's status and body. The app's one `onError`
 * renders them in the dialect of the route (dialect.ts), so no handler formats errors itself.
 *
 *   HF / TGI : {"error": "...", "error_type": "validation" | ...}     (TGI's ErrorResponse)
 *   OpenAI   : {"error": {"message", "type", "param", "code"}}
 *
 * Status codes where the dialects disagree: a validation error is 422 on TGI routes (axum/TGI habit),
 * 400 on the HF route (the hosted Inference API's habit) and 400 on /v1 (OpenAI).
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode, UnofficialStatusCode } from 'hono/utils/http-status';
import { ServiceError, type QuotaStanding, type ServiceErrorCode } from '../service/errors.ts';

import { dialectOf, type Dialect } from './dialect.ts';

export type ErrorType =
  | 'validation'
  | 'authentication'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'overloaded'
  | 'model_loading'
  | 'model_load'
  | 'generation'
  | 'cancelled'
  | 'config'
  | 'internal';

export interface ApiErrorOptions {
  /** OpenAI's `param` (the offending field), e.g. "temperature". */
  param?: string | null;
  /** OpenAI's `code`, e.g. "invalid_api_key", "model_not_found", "context_length_exceeded". */
  code?: string | null;
  /** Extra top-level fields on HF/TGI errors, e.g. HF's `estimated_time`. */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** An error whose message is safe to show to clients. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly opts: ApiErrorOptions = {},
  ) {
    super(message);
  }
}

function statusOf(type: ErrorType, dialect: Dialect): ContentfulStatusCode {
  switch (type) {
    case 'validation':
      return dialect === 'tgi' ? 422 : 400;
    case 'authentication':
      return 401;
    case 'not_found':
      return 404;
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'rate_limited':
      return 429;
    case 'model_loading':
    case 'model_load':
    case 'overloaded':
      return 503;
    case 'generation':
      return dialect === 'tgi' ? 424 : 500;
    case 'cancelled':
      // nginx's "client closed request": nobody reads it, but logs show what happened.
      return 499 as UnofficialStatusCode as ContentfulStatusCode;
    case 'config':
    case 'internal':
      return 500;
  }
}

function openAiType(type: ErrorType): string {
  if (type === 'authentication' || type === 'cancelled') return 'invalid_request_error';
  if (type === 'rate_limited') return 'tokens'; // OpenAI's type for token rate limits
  const status = statusOf(type, 'openai');
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** The JSON body of an error in a dialect (also the `data:` of an SSE error event). */
export function errorBody(err: ApiError, dialect: Dialect): Record<string, unknown> {
  if (dialect === 'openai') {
    return {
      error: {
        message: err.message,
        type: openAiType(err.type),
        param: err.opts.param ?? null,
        code: err.opts.code ?? null,
      },
    };
  }
  return { error: err.message, error_type: err.type, ...err.opts.extra };
}

const TYPE_OF: Record<ServiceErrorCode, ErrorType> = {
  not_found: 'not_found',
  validation: 'validation',
  over_limit: 'validation',
  unsupported: 'validation',
  loading: 'model_loading',
  unavailable: 'model_load',
  cancelled: 'cancelled',
  failed: 'generation',
  rate_limited: 'rate_limited',
};

/** Where a key's token quota stands, in OpenAI's header names (429s and metered answers alike). */
export function rateLimitHeaders(q: QuotaStanding): Record<string, string> {
  return {
    'x-ratelimit-limit-tokens': String(q.limit),
    'x-ratelimit-remaining-tokens': String(q.remaining),
    'x-ratelimit-reset-tokens': `${Math.ceil(q.resetMs / 1000)}s`,
  };
}

/** The service's error as an HTTP error: its code picks the type (hence each dialect's status). */
function fromServiceError(e: ServiceError): ApiError {
  const d = e.details;
  const opts: ApiErrorOptions = {};
  if (d.param !== undefined) opts.param = d.param;
  if (d.reason !== undefined) opts.code = d.reason;
  if (d.extra) opts.extra = d.extra;
  if (d.retryAfterS !== undefined) opts.headers = { 'Retry-After': String(d.retryAfterS) };
  if (d.quota) opts.headers = { ...opts.headers, ...rateLimitHeaders(d.quota) };
  // A model at capacity (its KV budget or a stage's) is busy, not broken: `overloaded`, like the overload guard.
  const type = e.code === 'unavailable' && d.reason === 'overloaded' ? 'overloaded' : TYPE_OF[e.code];
  return new ApiError(type, e.message, opts);
}

/**
 * Anything thrown that is neither an ApiError nor a ServiceError is a bug or an infrastructure
 * failure: log it, and show the client a fixed message (never the exception text, which may carry internals).
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ServiceError) return fromServiceError(e);
  return new ApiError('internal', 'internal error');
}

/** The error as a response in the dialect of the request's route (headers such as Retry-After included). */
export function errorResponse(c: Context, err: ApiError): Response {
  const dialect = dialectOf(c);
  for (const [k, v] of Object.entries(err.opts.headers ?? {})) c.header(k, v);
  return c.json(errorBody(err, dialect), statusOf(err.type, dialect));
}

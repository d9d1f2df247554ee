/**
 * Typed HTTP errors and their wire shapes. Routes throw `ApiError`; the app's one `onError` renders it
 * in the dialect of the route (chosen by path), so no handler formats errors itself.
 *
 *   HF / TGI : {"error": "...", "error_type": "validation" | ...}     (TGI's ErrorResponse)
 *   OpenAI   : {"error": {"message", "type", "param", "code"}}
 *
 * Status codes where the dialects disagree: a validation error is 422 on TGI routes (axum/TGI habit),
 * 400 on the HF route (the hosted Inference API's habit) and 400 on /v1 (OpenAI).
 */
import type { ContentfulStatusCode, UnofficialStatusCode } from 'hono/utils/http-status';
import { BudgetError } from '../generation/budget.ts';
import { GenerationError } from '../generation/errors.ts';
import { ModelLoadError } from '../model/types.ts';
import { QuotaExceeded, rateLimitHeaders } from '../quota/meter.ts';

export type Dialect = 'tgi' | 'hf' | 'openai';

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

export function statusOf(type: ErrorType, dialect: Dialect): ContentfulStatusCode {
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

/**
 * The dialect a path speaks: /v1/* (and /models/:id/v1/*, where @huggingface/inference sends its
 * completions) is OpenAI, /models/* and /pipeline/* (HF feature extraction) are HF, everything else TGI.
 */
export function dialectOf(path: string): Dialect {
  if (/^\/(?:models\/[^/]+(?:\/[^/]+)?\/)?v1(?:\/|$)/.test(path)) return 'openai';
  if (path.startsWith('/models/') || path.startsWith('/pipeline/')) return 'hf';
  return 'tgi';
}

/**
 * Anything thrown that is not an ApiError is a bug or an infrastructure failure: log it, and show
 * the client a fixed message (never the exception text, which may carry internals).
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ModelLoadError) {
    // Retry-After: the registry's remaining back-off (at least 1 s), when the next load will be tried.
    const retryAfter = String(Math.max(1, Math.ceil((e.retryAfterMs ?? 0) / 1000)));
    return new ApiError('model_load', `model could not be loaded: ${e.message}`, { code: e.code, headers: { 'Retry-After': retryAfter } });
  }
  if (e instanceof Error && e.name === 'Cancelled') return new ApiError('cancelled', 'client closed the request');
  if (e instanceof QuotaExceeded) {
    const retryAfter = String(Math.max(1, Math.ceil(e.decision.resetMs / 1000)));
    return new ApiError('rate_limited', e.message, { code: 'rate_limit_exceeded', headers: { 'Retry-After': retryAfter, ...rateLimitHeaders(e.decision) } });
  }
  if (e instanceof BudgetError) {
    return new ApiError('validation', e.message, { param: e.limit, code: 'context_length_exceeded' });
  }
  if (e instanceof GenerationError) {
    // invalid_params / context_overflow are the request's fault; model_output is ours (logged by caller).
    if (e.code === 'model_output') return new ApiError('generation', 'generation failed: the model returned invalid output');
    return new ApiError('validation', e.message, { code: e.code });
  }
  return new ApiError('internal', 'internal error');
}

/**
 * The service's own errors, independent of HTTP: a code that says what kind of failure it is, a
 * message safe to show to clients, and details a dialect may carry (the offending field, a
 * machine-readable reason). worker/http maps each code to every dialect's status and error shape;
 * nothing below the dialects formats an HTTP error.
 */

export type ServiceErrorCode =
  /** No such model (or alias). */
  | 'not_found'
  /** The request is invalid for this model (a token id outside the vocabulary, bad parameters). */
  | 'validation'
  /** A token or compute limit: MAX_*_TOKENS, the model's context, CPU_BUDGET_MS. */
  | 'over_limit'
  /** The model cannot serve this (e.g. converted without hidden states). */
  | 'unsupported'
  /** The model is still loading and the caller asked not to wait. */
  | 'loading'
  /** The model cannot be loaded (missing or corrupt files, no session). */
  | 'unavailable'
  /** The client went away before an answer was ready. */
  | 'cancelled'
  /** The model produced invalid output. */
  | 'failed'
  /** The key's token quota is spent for now (issue 16; see `quota`). */
  | 'rate_limited';

export interface ServiceErrorDetails {
  /** The request field at fault, e.g. "prompt", "inputs[2]", "max_total_tokens". */
  param?: string | null;
  /** A machine-readable reason, e.g. "model_not_found", "context_length_exceeded", "blob_corrupt". */
  reason?: string | null;
  /** Extra fields for the HF/TGI error body, e.g. `models` or `estimated_time`. */
  extra?: Record<string, unknown>;
  /** Seconds after which a retry may succeed (loading). */
  retryAfterS?: number;
  /** Where the key's token quota stands (rate_limited): OpenAI's x-ratelimit-*-tokens. */
  quota?: QuotaStanding;
}

/** A key's token quota as a rate_limited error (and quota/middleware's headers) report it. */
export interface QuotaStanding {
  limit: number;
  remaining: number;
  resetMs: number;
}

export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    readonly details: ServiceErrorDetails = {},
  ) {
    super(message);
  }
}

/** The client closed the request: nothing more is sent. */
export const cancelled = (): ServiceError => new ServiceError('cancelled', 'client closed the request');

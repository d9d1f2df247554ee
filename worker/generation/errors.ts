/** Errors raised by the generation loop itself (model errors propagate unchanged). */
export type GenerationErrorCode = 'invalid_params' | 'context_overflow' | 'model_output';

export class GenerationError extends Error {
  override name = 'GenerationError';
  constructor(
    readonly code: GenerationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The model instance cannot take another sequence now (its KV cache budget is reserved by others):
 * retryable, after `retryAfterS` seconds (the service answers 503 + Retry-After).
 */
export class CapacityError extends Error {
  override name = 'CapacityError';
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

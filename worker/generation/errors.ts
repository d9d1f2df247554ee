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

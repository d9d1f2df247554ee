/**
 * Token budget: the request-time check that a prompt plus the tokens asked for fit the server's
 * limits (MAX_NEW_TOKENS, MAX_INPUT_TOKENS, MAX_TOTAL_TOKENS ≤ the model's n_positions). Routes call
 * `checkBudget` before generating and map `BudgetError` to their dialect's validation error (422/400).
 * The CPU side of the budget lives in cpu-meter.ts.
 */

export interface TokenLimits {
  maxNewTokens: number;
  maxInputTokens: number;
  maxTotalTokens: number;
}

export type BudgetLimit = 'max_new_tokens' | 'max_input_tokens' | 'max_total_tokens';

/** A request over a token limit; `limit` is machine-readable, `message` names the limit and both numbers. */
export class BudgetError extends Error {
  override name = 'BudgetError';
  constructor(
    readonly limit: BudgetLimit,
    readonly value: number,
    readonly max: number,
    message: string,
  ) {
    super(message);
  }
}

export function checkBudget(inputTokens: number, maxNewTokens: number, limits: TokenLimits): void {
  if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new BudgetError(
      'max_new_tokens',
      maxNewTokens,
      limits.maxNewTokens,
      `max_new_tokens must be a non-negative integer, got ${maxNewTokens}`,
    );
  }
  if (maxNewTokens > limits.maxNewTokens) {
    throw new BudgetError(
      'max_new_tokens',
      maxNewTokens,
      limits.maxNewTokens,
      `max_new_tokens must be <= ${limits.maxNewTokens} (MAX_NEW_TOKENS), got ${maxNewTokens}`,
    );
  }
  if (inputTokens > limits.maxInputTokens) {
    throw new BudgetError(
      'max_input_tokens',
      inputTokens,
      limits.maxInputTokens,
      `input is ${inputTokens} tokens, over the limit of ${limits.maxInputTokens} (MAX_INPUT_TOKENS)`,
    );
  }
  const total = inputTokens + maxNewTokens;
  if (total > limits.maxTotalTokens) {
    throw new BudgetError(
      'max_total_tokens',
      total,
      limits.maxTotalTokens,
      `inputs + max_new_tokens (${total}) must be <= ${limits.maxTotalTokens} (MAX_TOTAL_TOKENS): ` +
        `${inputTokens} input tokens + ${maxNewTokens} new tokens`,
    );
  }
}

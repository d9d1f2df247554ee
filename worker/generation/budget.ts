/**
 * Token budget: the request-time check that a prompt plus the tokens asked for fit the server's
 * limits (MAX_NEW_TOKENS, MAX_INPUT_TOKENS, MAX_TOTAL_TOKENS ≤ the model's n_positions). Routes call
 * `checkBudget` before generating and map `BudgetError` to their dialect's validation error (422/400).
 * The CPU side of the budget lives in cpu-meter.ts.
 */

export type BudgetLimit = 'max_new_tokens' | 'max_input_tokens' | 'max_total_tokens';

export interface TokenLimits {
  maxNewTokens: number;
  maxInputTokens: number;
  maxTotalTokens: number;
  /**
   * What sets each limit, for messages, when it is not the server's variable (MAX_NEW_TOKENS, …):
   * e.g. "the model's context n_positions=1024" when the model's context is the tighter bound.
   */
  bounds?: Partial<Record<BudgetLimit, string>>;
}

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
  const bound = (limit: BudgetLimit, variable: string) => limits.bounds?.[limit] ?? variable;
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
      `max_new_tokens must be <= ${limits.maxNewTokens} (${bound('max_new_tokens', 'MAX_NEW_TOKENS')}), got ${maxNewTokens}`,
    );
  }
  if (inputTokens > limits.maxInputTokens) {
    throw new BudgetError(
      'max_input_tokens',
      inputTokens,
      limits.maxInputTokens,
      `input is ${inputTokens} tokens, over the limit of ${limits.maxInputTokens} (${bound('max_input_tokens', 'MAX_INPUT_TOKENS')})`,
    );
  }
  const total = inputTokens + maxNewTokens;
  if (total > limits.maxTotalTokens) {
    throw new BudgetError(
      'max_total_tokens',
      total,
      limits.maxTotalTokens,
      `inputs + max_new_tokens (${total}) must be <= ${limits.maxTotalTokens} (${bound('max_total_tokens', 'MAX_TOTAL_TOKENS')}): ` +
        `${inputTokens} input tokens + ${maxNewTokens} new tokens`,
    );
  }
}

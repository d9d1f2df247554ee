/** Retry with exponential backoff and jitter, and a bounded-concurrency map: the loader's plumbing. */

export interface RetryPolicy {
  /** Attempts after the first one. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Injected for tests; defaults to setTimeout and Math.random. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 100, maxDelayMs: 3_000 };

/**
 * Delay before retry `attempt` (0-based): "equal jitter", half fixed and half random, so concurrent
 * loaders that failed together do not hammer R2 in lockstep yet never retry immediately.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random = policy.random ?? Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return cap / 2 + random() * (cap / 2);
}

/** Calls `fn` until it resolves; rethrows the last error after `retries` retries. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void,
): Promise<T> {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.retries) throw err;
      const delay = backoffDelay(attempt, policy);
      onRetry?.(attempt, delay, err);
      await sleep(delay);
    }
  }
}

/** Maps `items` with at most `limit` calls in flight; results keep the input order; first error rejects. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true; // stop starting new work; lanes already in flight finish on their own
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

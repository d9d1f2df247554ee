/**
 * Strided sliding-window plan for perplexity (Hugging Face's "Perplexity of fixed-length models" guide).
 *
 * A token stream of length n is cut into windows of at most `context` tokens starting every `stride`
 * tokens. Each window is sent whole (its tokens are context for one another) but only the tokens that
 * the previous window did not score are counted, so every token is scored once, with as much left
 * context as the window gives it (at least `context - stride` tokens after the first window).
 *
 * What is counted, exactly:
 *  - token 0 of the stream is never scored: nothing precedes it (no BOS/<|endoftext|> is prepended);
 *  - a token is scored only with left context inside its own window, so the first token of a window is
 *    never scored by that window. With stride < context this loses nothing (the previous window scored
 *    it); with stride = context the first token of every window is left unscored, as in HF's guide
 *    (which subtracts one label per window for the shift).
 *  - The last window ends exactly at n; planning stops there, and a window that would score nothing
 *    (a lone last token when stride = context) is dropped.
 */

export interface Window {
  /** Tokens [begin, end) of the stream are the request's prompt. */
  begin: number;
  end: number;
  /** Tokens [scoreFrom, end) are counted; scoreFrom > begin always. */
  scoreFrom: number;
}

export class WindowPlanError extends Error {
  override name = 'WindowPlanError';
  constructor(
    readonly code: 'bad_context' | 'bad_stride',
    message: string,
  ) {
    super(message);
  }
}

export function planWindows(n: number, context: number, stride: number): Window[] {
  if (!Number.isInteger(context) || context < 2) {
    throw new WindowPlanError('bad_context', `context must be an integer >= 2 (got ${context})`);
  }
  if (!Number.isInteger(stride) || stride < 1 || stride > context) {
    throw new WindowPlanError('bad_stride', `stride must be an integer in [1, context=${context}] (got ${stride})`);
  }
  const windows: Window[] = [];
  if (n < 2) return windows; // nothing can be scored: token 0 has no context
  let prevEnd = 0;
  for (let begin = 0; begin < n; begin += stride) {
    const end = Math.min(begin + context, n);
    const scoreFrom = Math.max(prevEnd, begin + 1);
    // Only with stride = context can a final one-token window score nothing; no request for it.
    if (scoreFrom < end) windows.push({ begin, end, scoreFrom });
    prevEnd = end;
    if (end === n) break;
  }
  return windows;
}

/** Number of tokens a plan scores (n - 1 when stride < context). */
export function scoredCount(windows: readonly Window[]): number {
  return windows.reduce((s, w) => s + (w.end - w.scoreFrom), 0);
}

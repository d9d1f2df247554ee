/**
 * Aggregation of per-token log-probabilities into perplexity and bits per byte. Pure: no I/O.
 *
 * perplexity    = exp(total NLL in nats / scored tokens)
 * bits per byte = total NLL in bits / UTF-8 bytes of the scored tokens
 * The bytes are those the scored tokens stand for (GPT-2's byte-level BPE: every token is a run of
 * bytes, so the scored bytes are the text minus the bytes of unscored tokens, e.g. the first token).
 */

export interface NllTotals {
  /** Sum of -log p(token | left context), natural log. */
  nll: number;
  tokens: number;
  bytes: number;
}

export function emptyTotals(): NllTotals {
  return { nll: 0, tokens: 0, bytes: 0 };
}

export function addTotals(a: NllTotals, b: NllTotals): NllTotals {
  return { nll: a.nll + b.nll, tokens: a.tokens + b.tokens, bytes: a.bytes + b.bytes };
}

export class MetricsError extends Error {
  override name = 'MetricsError';
  constructor(
    readonly code: 'bad_logprob' | 'nothing_scored',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Totals of one window: `logprobs[i]` is log p(ids[i] | ids[0..i)) as the API returns it for the
 * window's prompt (index 0 is null); positions [scoreFrom, end) relative to the window are counted.
 */
export function windowTotals(logprobs: readonly (number | null)[], scoreFrom: number, tokenBytes: readonly number[]): NllTotals {
  const t = emptyTotals();
  for (let i = scoreFrom; i < logprobs.length; i++) {
    const lp = logprobs[i];
    if (typeof lp !== 'number' || !Number.isFinite(lp) || lp > 1e-3) {
      throw new MetricsError(
        'bad_logprob',
        `token ${i} of the window has logprob ${String(lp)}; expected a finite number <= 0 (1e-3 slack for float rounding)`,
      );
    }
    t.nll -= lp;
    t.tokens += 1;
    t.bytes += tokenBytes[i] ?? 0;
  }
  return t;
}

export interface PerplexityResult {
  tokens: number;
  bytes: number;
  nll: number;
  /** Mean NLL per token, nats. */
  nllPerToken: number;
  perplexity: number;
  bitsPerToken: number;
  bitsPerByte: number;
}

export function summarize(t: NllTotals): PerplexityResult {
  if (t.tokens === 0) throw new MetricsError('nothing_scored', 'no token was scored: the text needs at least 2 tokens');
  const nllPerToken = t.nll / t.tokens;
  return {
    tokens: t.tokens,
    bytes: t.bytes,
    nll: t.nll,
    nllPerToken,
    perplexity: Math.exp(nllPerToken),
    bitsPerToken: nllPerToken / Math.LN2,
    bitsPerByte: t.bytes > 0 ? t.nll / Math.LN2 / t.bytes : Number.NaN,
  };
}

/** LAMBADA: accuracy over examples and perplexity of the target word (per example, as lm-eval does). */
export interface LambadaTotals {
  examples: number;
  correct: number;
  /** Sum over examples of -log p(target tokens | context). */
  nll: number;
  targetTokens: number;
}

export function summarizeLambada(t: LambadaTotals): { examples: number; accuracy: number; perplexity: number; targetTokens: number } {
  if (t.examples === 0) throw new MetricsError('nothing_scored', 'no LAMBADA example was scored');
  return {
    examples: t.examples,
    accuracy: t.correct / t.examples,
    perplexity: Math.exp(t.nll / t.examples),
    targetTokens: t.targetTokens,
  };
}

/** Summaries of repeated measurements: median with the min–max spread (no means: one slow outlier on a shared 2-core box should not move the headline). */

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const s = [...finite].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** `12.3 (11.9–13.0)`; '—' when nothing was measured. */
export function formatSummary(s: Summary | undefined, digits = 1): string {
  if (!s || s.n === 0) return '—';
  const f = (v: number) => v.toFixed(digits);
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

/** Per-step times → ms/token of one run: the median step, so one GC pause does not count as the rate. */
export function perTokenMs(stepMs: readonly number[]): number {
  return summarize(stepMs).median;
}

export const MB = 2 ** 20;
export const mib = (bytes: number | undefined): string =>
  bytes === undefined || !Number.isFinite(bytes) || bytes === 0 ? '—' : (bytes / MB).toFixed(1);

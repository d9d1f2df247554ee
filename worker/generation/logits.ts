/**
 * Read-only helpers over one logits row (`Float32Array` of vocab_size): argmax, log-normaliser,
 * top-n alternatives. None of them allocates on the hot path except `topAlternatives`' small result.
 */

/** Index of the largest value; ties go to the lowest id (HF/torch argmax and llm.c do the same). */
export function argmax(row: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** log Σ exp(row): logprob(i) = row[i] − logSumExp(row). -Infinity entries contribute nothing. */
export function logSumExp(row: Float32Array): number {
  return expSum(row).lse;
}

/**
 * max(row), Σ exp(row[i] − max) in index order (-Infinity entries add 0) and their log-sum-exp. With `weights`, also stores
 * each exp(row[i] − max) there, so a sampler over the same row can draw without a second pass of `exp`
 * (sample.ts): the same numbers in the same order, so the same draw. `weights` is untouched when every
 * entry is -Infinity.
 */
export function expSum(row: Float32Array, weights?: Float64Array): { max: number; total: number; lse: number } {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  if (max === -Infinity) return { max, total: 0, lse: -Infinity };
  let total = 0;
  if (weights)
    for (let i = 0; i < row.length; i++) {
      const e = Math.exp(row[i]! - max);
      weights[i] = e;
      total += e;
    }
  else for (let i = 0; i < row.length; i++) total += Math.exp(row[i]! - max);
  return { max, total, lse: max + Math.log(total) };
}

/** In place: row[i] ← row[i] − logSumExp(row). */
export function logSoftmax(row: Float32Array): Float32Array {
  const lse = logSumExp(row);
  for (let i = 0; i < row.length; i++) row[i] = row[i]! - lse;
  return row;
}

/**
 * The n highest entries as (id, logprob), best first, ties by lowest id. One pass with an insertion
 * list of length n: O(vocab) for the small n clients may ask for (OpenAI ≤ 5, TGI top_n_tokens ≤ 5–10);
 * a full sort of 50,257 entries per token would cost more than the sampling itself.
 */
export function topAlternatives(row: Float32Array, n: number, lse: number): { id: number; logprob: number }[] {
  const k = Math.min(n, row.length);
  if (k <= 0) return [];
  const ids: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (ids.length === k && !(v > values[k - 1]!)) continue; // not better than the current n-th (or NaN)
    let at = ids.length === k ? k - 1 : ids.length;
    while (at > 0 && v > values[at - 1]!) at--; // strictly greater: an earlier (lower) id wins ties
    ids.splice(at, 0, i);
    values.splice(at, 0, v);
    if (ids.length > k) {
      ids.pop();
      values.pop();
    }
  }
  return ids.map((id, j) => ({ id, logprob: values[j]! - lse }));
}

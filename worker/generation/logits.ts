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

export interface ExpSums {
  max: number;
  total: number;
  lse: number;
}

/** A faster computation of expSumJs's exact results (the WASM kernels: worker/kernels/softmax.ts). */
export type ExpSumFn = (row: Float32Array, weights?: Float64Array) => ExpSums;

let backend: ExpSumFn | null = null;

/**
 * Where expSum computes: `fn` must give expSumJs's bits (the kernels do; test/unit/kernels/softmax.test.ts),
 * so this choice changes speed only, never a token or a logprob. null: expSumJs.
 */
export function useExpSum(fn: ExpSumFn | null): void {
  backend = fn;
}

/**
 * max(row), Σ exp(row[i] − max) (-Infinity entries add 0) and their log-sum-exp. With `weights`, also stores
 * each exp(row[i] − max) there, so a sampler over the same row can draw without a second pass of `exp`
 * (sample.ts). `weights` is untouched when every entry is -Infinity. Computed as expSumJs defines, on the
 * backend useExpSum set (the Worker's WASM kernels: about 3× faster than Math.exp over 50,257 logits).
 */
export function expSum(row: Float32Array, weights?: Float64Array): ExpSums {
  return backend ? backend(row, weights) : expSumJs(row, weights);
}

/**
 * expSum in JS, the definition: exp in f32 as the WASM kernels compute it (exp32), summed as four f64
 * partial sums (lane j over the indices i ≡ j mod 4 below length & ~3), combined (s0 + s1) + (s2 + s3), then
 * the last length % 4 in index order. f32 is the precision PyTorch's softmax over f32 logits has too; exp32's
 * relative error (≤ 3e-7, plus the f32 rounding of row[i] − max) is far below what moves a sampled token.
 * NaN entries are passed over by the max and weigh 0.
 */
export function expSumJs(row: Float32Array, weights?: Float64Array): ExpSums {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  if (max === -Infinity) return { max, total: 0, lse: -Infinity };
  const n4 = row.length & ~3;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < n4; i += 4) {
    const e0 = exp32(Math.fround(row[i]! - max));
    const e1 = exp32(Math.fround(row[i + 1]! - max));
    const e2 = exp32(Math.fround(row[i + 2]! - max));
    const e3 = exp32(Math.fround(row[i + 3]! - max));
    if (weights) {
      weights[i] = e0;
      weights[i + 1] = e1;
      weights[i + 2] = e2;
      weights[i + 3] = e3;
    }
    s0 += e0;
    s1 += e1;
    s2 += e2;
    s3 += e3;
  }
  let total = s0 + s1 + (s2 + s3);
  for (let i = n4; i < row.length; i++) {
    const e = exp32(Math.fround(row[i]! - max));
    if (weights) weights[i] = e;
    total += e;
  }
  return { max, total, lse: max + Math.log(total) };
}

const f = Math.fround;
const EXP_LO = f(-87.3);
const LOG2E = f(1.44269504);
const LN2_HI = f(0.693359375);
const LN2_LO = f(-2.1219444e-4);
const C6 = f(0.0013888889);
const C5 = f(0.008333333);
const C4 = f(0.041666668);
const C3 = f(0.16666667);
/** 2^n for n in [-126, 0] (n = -index): exact f64 powers of two, looked up instead of computed per entry. */
const POW2 = Float64Array.from({ length: 127 }, (_, i) => 2 ** -i);

/**
 * e^x for an f32 x ≤ 0, exactly as the kernels' $exp4 computes each lane (gpt2-kernels.wat): every
 * operation rounded to f32 (Math.fround of an f64 result of f32 operands is the correctly rounded f32
 * result), n rounded half to even like f32x4.nearest, 0 below -87.3.
 */
export function exp32(x: number): number {
  if (!(x >= EXP_LO)) return 0;
  const t = f(x * LOG2E);
  let n = Math.round(t);
  if (n - t === 0.5 && n % 2 !== 0) n -= 1; // Math.round rounds halves up; f32x4.nearest to even
  let r = f(x - f(n * LN2_HI));
  r = f(r - f(n * LN2_LO));
  let p = f(C5 + f(r * C6));
  p = f(C4 + f(r * p));
  p = f(C3 + f(r * p));
  p = f(0.5 + f(r * p));
  p = f(1 + f(r * p));
  p = f(1 + f(r * p));
  return f(p * POW2[-n]!);
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

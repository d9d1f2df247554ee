/**
 * Truncation warpers (top_k, top_p, typical_p). They do not write -Infinity into the row: they shrink
 * a `Candidates` list of token ids that the sampler draws from. Scratch is allocated once per
 * generation, so a step allocates nothing.
 *
 * Cost on a 50,257-wide row: top_k is a quickselect (O(vocab)). top_p and typical_p need the
 * candidates ranked, but only up to where the mass reaches p: we histogram the ranking key into
 * 1,024 buckets with their mass (O(vocab)), find the bucket where the cumulative mass crosses p, keep
 * every candidate of the buckets before it unsorted, and sort only that boundary bucket. A full sort of
 * a flat distribution's ~40k candidates with a comparator costs more than the rest of the step.
 */

import { select } from './select.ts';

const BUCKETS = 1024;
/** Below this many candidates a plain sort is cheaper than bucketing. */
const SORT_BELOW = 128;

export interface Candidates {
  ids: Int32Array; // [vocab] the allowed ids are ids[0 .. n)
  n: number;
  weight: Float64Array; // [vocab] by id: exp(logit − max) of the candidates (unnormalised probability)
  key: Float64Array; // [vocab] by id: ranking key, smaller = kept first
  boundary: Int32Array; // [vocab] ids of the boundary bucket
  bucketMass: Float64Array; // [BUCKETS]
  bucketCount: Int32Array; // [BUCKETS]
}

export function createCandidates(vocabSize: number): Candidates {
  return {
    ids: new Int32Array(vocabSize),
    n: 0,
    weight: new Float64Array(vocabSize),
    key: new Float64Array(vocabSize),
    boundary: new Int32Array(vocabSize),
    bucketMass: new Float64Array(BUCKETS),
    bucketCount: new Int32Array(BUCKETS),
  };
}

/** Every id whose logit is finite (a -Infinity bias bans a token outright). */
export function resetCandidates(row: Float32Array, c: Candidates): void {
  let n = 0;
  for (let i = 0; i < row.length; i++) if (row[i]! > -Infinity) c.ids[n++] = i;
  c.n = n;
}

/**
 * HF top_k: keep every token whose logit is ≥ the k-th largest (ties at the boundary all survive).
 * Quickselect finds the k-th largest in O(n) instead of sorting 50,257 logits.
 */
export function topK(row: Float32Array, c: Candidates, k: number): void {
  if (k <= 0 || k >= c.n) return;
  const threshold = row[select(row, c.ids, c.n, k - 1)]!;
  let n = 0;
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    if (row[id]! >= threshold) c.ids[n++] = id;
  }
  c.n = n;
}

/**
 * HF top_p (nucleus): walking tokens from most to least likely (ties: lowest id first), keep a token
 * while the mass before it is < p; the first is always kept. So a tiny p is greedy.
 */
export function topP(row: Float32Array, c: Candidates, p: number): void {
  if (p >= 1 || c.n <= 1) return;
  const total = fillWeights(row, c);
  for (let j = 0; j < c.n; j++) c.key[c.ids[j]!] = -row[c.ids[j]!]!;
  keepPrefix(c, p * total, false);
}

/**
 * HF typical_p (Meister et al.): rank tokens by |−log p − H| (distance of their surprisal from the
 * entropy) and keep up to and including the first where the cumulative mass reaches `mass`, plus
 * any token tied with that one's score (HF's `sorted_scores > cutoff` keeps ties).
 */
export function typicalP(row: Float32Array, c: Candidates, mass: number): void {
  if (mass >= 1 || c.n <= 1) return;
  const total = fillWeights(row, c);
  const logTotal = Math.log(total);
  let max = -Infinity;
  for (let j = 0; j < c.n; j++) max = Math.max(max, row[c.ids[j]!]!);
  let entropy = 0;
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    const pr = c.weight[id]! / total;
    if (pr > 0) entropy -= pr * (row[id]! - max - logTotal);
  }
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    c.key[id] = Math.abs(-(row[id]! - max - logTotal) - entropy);
  }
  keepPrefix(c, mass * total, true);
}

/** weight[id] ← exp(row[id] − max) for each candidate; returns their sum. */
export function fillWeights(row: Float32Array, c: Candidates): number {
  let max = -Infinity;
  for (let j = 0; j < c.n; j++) max = Math.max(max, row[c.ids[j]!]!);
  let total = 0;
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    const e = Math.exp(row[id]! - max);
    c.weight[id] = e;
    total += e;
  }
  return total;
}

/**
 * Ranks candidates by (key, id) ascending and keeps the shortest prefix whose weight reaches
 * `target` (at least one). `keepTies` also keeps candidates whose key equals the last kept one's.
 * Only the bucket where the cumulative weight crosses `target` is sorted (see the header).
 */
function keepPrefix(c: Candidates, target: number, keepTies: boolean): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = 0; j < c.n; j++) {
    const k = c.key[c.ids[j]!]!;
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  if (c.n < SORT_BELOW || !(hi > lo) || !Number.isFinite(hi - lo)) {
    c.boundary.set(c.ids.subarray(0, c.n));
    c.n = cutSorted(c, 0, c.n, 0, target, keepTies);
    return;
  }
  const scale = (BUCKETS - 1) / (hi - lo);
  c.bucketMass.fill(0);
  c.bucketCount.fill(0);
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    const b = Math.floor((c.key[id]! - lo) * scale);
    c.bucketMass[b] = c.bucketMass[b]! + c.weight[id]!;
    c.bucketCount[b]!++;
  }
  // The first bucket where the mass reaches the target (the last non-empty one if rounding says never).
  let crossing = BUCKETS - 1;
  let before = 0;
  for (let b = 0; b < BUCKETS; b++) {
    if (c.bucketCount[b] === 0) continue;
    if (before + c.bucketMass[b]! >= target) {
      crossing = b;
      break;
    }
    before += c.bucketMass[b]!;
  }
  let kept = 0;
  let inBoundary = 0;
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    const b = Math.floor((c.key[id]! - lo) * scale);
    if (b < crossing)
      c.ids[kept++] = id; // ranked before the boundary: kept, order irrelevant
    else if (b === crossing) c.boundary[inBoundary++] = id;
  }
  c.n = kept + cutSorted(c, kept, inBoundary, before, target, keepTies);
}

/**
 * Sorts boundary[0 .. count) by (key, id), keeps them while the weight before each is < target (the
 * very first candidate overall always), copies the kept ones to ids[offset ..] and returns how many.
 */
function cutSorted(c: Candidates, offset: number, count: number, before: number, target: number, keepTies: boolean): number {
  const ids = c.boundary.subarray(0, count);
  ids.sort((a, b) => c.key[a]! - c.key[b]! || a - b);
  let n = 0;
  while (n < count && (offset + n === 0 || before < target)) before += c.weight[ids[n++]!]!;
  if (keepTies && n > 0) {
    const cutoff = c.key[ids[n - 1]!]!;
    while (n < count && c.key[ids[n]!]! === cutoff) n++;
  }
  c.ids.set(ids.subarray(0, n), offset);
  return n;
}

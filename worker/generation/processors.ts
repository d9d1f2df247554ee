/**
 * Logits processors: pure, in-place functions over one row (`Float32Array` of vocab_size), applied in
 * HF's order: repetition penalty → presence/frequency penalties → logit bias, then (sampling only)
 * temperature → top_k → top_p → typical_p (HF `_get_logits_processor`, TGI's `StaticWarper`).
 *
 * The truncation warpers (top_k, top_p, typical_p) do not write -Infinity into the row: they shrink a
 * `Candidates` list of token ids (Int32Array scratch, allocated once per generation) that the sampler
 * draws from. That keeps each step O(vocab) with no allocation, and sorts only what must be sorted.
 */

/** HF/CTRL repetition penalty over every distinct token in prompt + generated text (as HF and vLLM do). */
export function applyRepetitionPenalty(row: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of seen) {
    const v = row[id];
    if (v === undefined) continue;
    // Divide positive logits, multiply negative ones: both make the token less likely.
    row[id] = v > 0 ? v / penalty : v * penalty;
  }
}

/** OpenAI penalties over generated tokens only: logit −= presence·[count>0] + frequency·count. */
export function applyPresenceFrequency(
  row: Float32Array,
  counts: ReadonlyMap<number, number>,
  presence: number,
  frequency: number,
): void {
  if (presence === 0 && frequency === 0) return;
  for (const [id, count] of counts) {
    const v = row[id];
    if (v === undefined || count <= 0) continue;
    row[id] = v - presence - frequency * count;
  }
}

/** OpenAI logit_bias: added to the logit (ids outside the vocabulary are ignored). */
export function applyLogitBias(row: Float32Array, bias: ReadonlyMap<number, number>): void {
  for (const [id, b] of bias) {
    const v = row[id];
    if (v !== undefined) row[id] = v + b;
  }
}

export function applyTemperature(row: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  const inv = 1 / temperature;
  for (let i = 0; i < row.length; i++) row[i] = row[i]! * inv;
}

/** The ids still allowed: `ids[0 .. n)`. `sorted` means descending by logit, ties by ascending id. */
export interface Candidates {
  ids: Int32Array;
  n: number;
  sorted: boolean;
  /** Scratch keyed by token id (probabilities, typical-p scores). */
  scratch: Float64Array;
}

export function createCandidates(vocabSize: number): Candidates {
  return { ids: new Int32Array(vocabSize), n: 0, sorted: false, scratch: new Float64Array(vocabSize) };
}

/** Every id whose logit is finite (a -Infinity bias bans a token outright). */
export function resetCandidates(row: Float32Array, c: Candidates): void {
  let n = 0;
  for (let i = 0; i < row.length; i++) if (row[i]! > -Infinity) c.ids[n++] = i;
  c.n = n;
  c.sorted = false;
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
  c.sorted = false;
}

/**
 * HF top_p (nucleus): walking tokens from most to least likely, keep a token while the mass before it
 * is < p; the first token is always kept. Only a prefix of the sorted order matters, so when the list
 * is long we sort just the tokens above a probability threshold whose total mass already reaches p.
 */
export function topP(row: Float32Array, c: Candidates, p: number): void {
  if (p >= 1 || c.n <= 1) return;
  const total = fillProbs(row, c);
  const target = p * total;
  if (!c.sorted) {
    if (c.n > 256) prefilterByMass(c, target);
    sortCandidates(row, c);
  }
  let before = 0;
  let n = 0;
  while (n < c.n && (n === 0 || before < target)) before += c.scratch[c.ids[n++]!]!;
  c.n = n;
}

/**
 * HF typical_p (Meister et al.): rank tokens by |−log p − H| and keep the smallest prefix of that
 * ranking whose mass reaches `mass` (HF keeps up to and including the first index where the
 * cumulative mass is ≥ mass). Needs a sort of the candidates by that score.
 */
export function typicalP(row: Float32Array, c: Candidates, mass: number): void {
  if (mass >= 1 || c.n <= 1) return;
  const total = fillProbs(row, c);
  const logTotal = Math.log(total);
  let max = -Infinity;
  for (let j = 0; j < c.n; j++) max = Math.max(max, row[c.ids[j]!]!);
  let entropy = 0;
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    const pr = c.scratch[id]! / total;
    if (pr > 0) entropy -= pr * (row[id]! - max - logTotal);
  }
  // Typicality score: how far a token's surprisal is from the distribution's entropy.
  const ids = c.ids.subarray(0, c.n);
  const score = (id: number): number => Math.abs(-(row[id]! - max - logTotal) - entropy);
  ids.sort((a, b) => score(a) - score(b) || a - b);
  let cumulative = 0;
  let last = 0;
  while (last < c.n - 1) {
    cumulative += c.scratch[ids[last]!]! / total;
    if (cumulative >= mass) break;
    last++;
  }
  const cutoff = score(ids[last]!);
  let n = last + 1;
  while (n < c.n && score(ids[n]!) <= cutoff) n++; // HF keeps ties with the cut-off score
  c.n = n;
  c.sorted = false;
}

/** Descending by logit, ties by ascending id (so "the first candidate" is greedy's choice). */
export function sortCandidates(row: Float32Array, c: Candidates): void {
  c.ids.subarray(0, c.n).sort((a, b) => row[b]! - row[a]! || a - b);
  c.sorted = true;
}

/** scratch[id] ← exp(row[id] − max) for each candidate; returns their sum. */
function fillProbs(row: Float32Array, c: Candidates): number {
  let max = -Infinity;
  for (let j = 0; j < c.n; j++) max = Math.max(max, row[c.ids[j]!]!);
  let total = 0;
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    const e = Math.exp(row[id]! - max);
    c.scratch[id] = e;
    total += e;
  }
  return total;
}

/**
 * Drops candidates that cannot be in the nucleus: if the tokens with probability ≥ t already hold
 * `target` mass, the nucleus is a prefix of them. Tries t = max·10^-3, 10^-6, … (cheap linear passes).
 */
function prefilterByMass(c: Candidates, target: number): void {
  let max = 0;
  for (let j = 0; j < c.n; j++) max = Math.max(max, c.scratch[c.ids[j]!]!);
  for (let t = max * 1e-3; t > max * 1e-30; t *= 1e-3) {
    let mass = 0;
    for (let j = 0; j < c.n; j++) {
      const pr = c.scratch[c.ids[j]!]!;
      if (pr >= t) mass += pr;
    }
    if (mass < target) continue;
    let n = 0;
    for (let j = 0; j < c.n; j++) {
      const id = c.ids[j]!;
      if (c.scratch[id]! >= t) c.ids[n++] = id;
    }
    c.n = n;
    return;
  }
}

/**
 * Quickselect (Hoare partition, median-of-three pivot): reorders ids[0..n) so that position `kth`
 * holds the id with the (kth+1)-th largest logit; returns that id. Deterministic for a given input.
 */
function select(row: Float32Array, ids: Int32Array, n: number, kth: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const pivot = median3(row[ids[lo]!]!, row[ids[mid]!]!, row[ids[hi]!]!);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (row[ids[i]!]! > pivot) i++;
      while (row[ids[j]!]! < pivot) j--;
      if (i <= j) {
        const t = ids[i]!;
        ids[i] = ids[j]!;
        ids[j] = t;
        i++;
        j--;
      }
    }
    if (kth <= j) hi = j;
    else if (kth >= i) lo = i;
    else break;
  }
  return ids[kth]!;
}

function median3(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}

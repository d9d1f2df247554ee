/**
 * Choosing the next token: greedy argmax, or one draw from the processed distribution. Like llm.c's
 * `sample_mult`, the draw is a pure function of (logits, params, u) — the caller owns the RNG — so a
 * test can pin u and a seed reproduces a sequence exactly.
 */
import { argmax } from './logits.ts';
import { applyTemperature } from './processors.ts';
import { fillWeights, resetCandidates, topK, topP, typicalP, type Candidates } from './truncation.ts';
import type { GenerationParams } from './types.ts';

export type SamplingParams = Pick<GenerationParams, 'doSample' | 'temperature' | 'topK' | 'topP' | 'typicalP'>;

/**
 * The next token for one row whose penalties and bias are already applied. With sampling on, the
 * row is modified in place (temperature) and `c` is scratch (see `createCandidates`). A temperature
 * of 0 means greedy, as in OpenAI's API and vLLM.
 *
 * `weighted`: the caller already filled `c.weight[i] = exp(row[i] − max)` for every i, in index order,
 * with `total` their sum (logits.ts expSum, done anyway for the logprob). When no warper applies
 * (temperature 1, no top_k / top_p / typical_p) the draw then reads those weights instead of a second
 * `exp` over the vocabulary (`fillWeights`, which the warped paths use). The two agree to exp32's 3e-7, so
 * they draw the same token unless u·total falls that close to a bucket's edge (sample.test.ts).
 */
export function sampleToken(row: Float32Array, params: SamplingParams, u: number, c: Candidates, weighted?: { total: number }): number {
  if (!params.doSample || params.temperature <= 0) return argmax(row);
  if (weighted && drawsAsIs(params)) return weighted.total > 0 ? drawAll(row, c.weight, u * weighted.total) : argmax(row);
  applyTemperature(row, params.temperature);
  resetCandidates(row, c);
  if (c.n === 0) return argmax(row); // every token banned: nothing to draw from; argmax is as good as any
  topK(row, c, params.topK);
  topP(row, c, params.topP);
  typicalP(row, c, params.typicalP);
  return draw(row, c, u);
}

/** Sampling that draws from the row as it is: temperature 1 and no top_k / top_p / typical_p. */
export function drawsAsIs(p: SamplingParams): boolean {
  return p.doSample && p.temperature === 1 && p.topK <= 0 && p.topP >= 1 && p.typicalP >= 1;
}

/** `draw` over every finite entry in index order, with the weights already in `weight` (see sampleToken). */
function drawAll(row: Float32Array, weight: Float64Array, target: number): number {
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < row.length; i++) {
    if (!(row[i]! > -Infinity)) continue;
    cumulative += weight[i]!;
    if (target < cumulative) return i;
    last = i;
  }
  return last; // u·total rounded up past the last bucket
}

/** Inverse-CDF draw over the candidates, in their list order (deterministic for a given input). */
function draw(row: Float32Array, c: Candidates, u: number): number {
  const target = u * fillWeights(row, c);
  let cumulative = 0;
  for (let j = 0; j < c.n; j++) {
    const id = c.ids[j]!;
    cumulative += c.weight[id]!;
    if (target < cumulative) return id;
  }
  return c.ids[c.n - 1]!; // u·total rounded up past the last bucket
}

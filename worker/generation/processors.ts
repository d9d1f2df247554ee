/**
 * Logits processors: pure, in-place functions over one row (`Float32Array` of vocab_size), applied in
 * HF's order: repetition penalty → presence/frequency penalties → logit bias, then (sampling only)
 * temperature → top_k → top_p → typical_p (HF `_get_logits_processor`, TGI's `StaticWarper`). The
 * truncation warpers live in truncation.ts.
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
export function applyPresenceFrequency(row: Float32Array, counts: ReadonlyMap<number, number>, presence: number, frequency: number): void {
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

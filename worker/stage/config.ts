/**
 * A stage Worker's vars (written by `npm run stages`): which model, which part, which budget. Checked once
 * per isolate; a bad value is an operator error named in every answer.
 */
import { MB } from './budget.ts';
import type { StageConfig } from './part.ts';

export interface StageVars {
  /** Model id: models/<id>/manifest.json in the bucket. */
  STAGE_MODEL?: string;
  /** This stage's position in the plan (0 holds the embedding), for names in messages. */
  STAGE_INDEX?: string;
  /** Layers [first, end) as "first..end", or "none". */
  STAGE_LAYERS?: string;
  /** "true" when this stage holds the tied embedding (lookup + LM head). */
  STAGE_ENDS?: string;
  /** The isolate's memory limit the budget is computed from (default 128). */
  STAGE_MEMORY_MB?: string;
  /** Optional cap on resident KV cache bytes. */
  STAGE_KV_BUDGET_BYTES?: string;
}

export function parseStageVars(v: StageVars): StageConfig {
  const bad = (name: string, why: string): never => {
    throw new Error(`${name} ${why}`);
  };
  const model = v.STAGE_MODEL?.trim() || bad('STAGE_MODEL', 'is required');
  const stage = Number(v.STAGE_INDEX ?? 'x');
  if (!Number.isInteger(stage) || stage < 0) bad('STAGE_INDEX', `must be an integer ≥ 0, got ${v.STAGE_INDEX}`);
  const spec = (v.STAGE_LAYERS ?? '').trim();
  let layers: [number, number] | null = null;
  if (spec !== 'none') {
    const m = /^(\d+)\.\.(\d+)$/.exec(spec);
    if (!m || Number(m[2]) <= Number(m[1]))
      bad('STAGE_LAYERS', `must be "first..end" (end exclusive, end > first) or "none", got "${spec}"`);
    layers = [Number(m![1]), Number(m![2])];
  }
  const ends = (v.STAGE_ENDS ?? 'false').trim() === 'true';
  if (!layers && !ends) bad('STAGE_LAYERS', 'is "none" and STAGE_ENDS is not "true": this stage would hold nothing');
  const num = (name: string, s: string | undefined): number | undefined => {
    if (s === undefined || s.trim() === '') return undefined;
    const n = Number(s);
    return Number.isFinite(n) && n > 0 ? n : bad(name, `must be a positive number, got ${s}`);
  };
  const memMb = num('STAGE_MEMORY_MB', v.STAGE_MEMORY_MB);
  const kvCap = num('STAGE_KV_BUDGET_BYTES', v.STAGE_KV_BUDGET_BYTES);
  return { stage, model, spec: { layers, ends }, ...(memMb ? { limitBytes: memMb * MB } : {}), ...(kvCap ? { kvCapBytes: kvCap } : {}) };
}

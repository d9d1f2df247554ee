/**
 * Last-line invariants on GenerationParams. Routes validate client input in their dialect's terms;
 * this only rejects values the loop cannot run with (a route bug, not a client error).
 */
import { GenerationError } from './errors.ts';
import type { GenerationParams } from './types.ts';

export function assertParams(p: GenerationParams): void {
  const fail = (field: string, rule: string, value: unknown): never => {
    throw new GenerationError('invalid_params', `${field} must be ${rule}, got ${String(value)}`);
  };
  const isInt = (v: number, min: number): boolean => Number.isSafeInteger(v) && v >= min;
  if (!isInt(p.maxNewTokens, 0)) fail('maxNewTokens', 'an integer >= 0', p.maxNewTokens);
  if (!isInt(p.numSequences, 1)) fail('numSequences', 'an integer >= 1', p.numSequences);
  if (!isInt(p.topK, 0)) fail('topK', 'an integer >= 0', p.topK);
  if (!isInt(p.topLogprobs, 0)) fail('topLogprobs', 'an integer >= 0', p.topLogprobs);
  if (!(p.temperature >= 0 && Number.isFinite(p.temperature))) fail('temperature', 'finite and >= 0', p.temperature);
  if (!(p.topP > 0 && p.topP <= 1)) fail('topP', 'in (0, 1]', p.topP);
  if (!(p.typicalP > 0 && p.typicalP <= 1)) fail('typicalP', 'in (0, 1]', p.typicalP);
  if (!(p.repetitionPenalty > 0 && Number.isFinite(p.repetitionPenalty))) fail('repetitionPenalty', 'finite and > 0', p.repetitionPenalty);
  if (!Number.isFinite(p.presencePenalty)) fail('presencePenalty', 'finite', p.presencePenalty);
  if (!Number.isFinite(p.frequencyPenalty)) fail('frequencyPenalty', 'finite', p.frequencyPenalty);
  if (!Number.isFinite(p.seed)) fail('seed', 'a finite number', p.seed);
  if (!(p.cpuBudgetMs > 0)) fail('cpuBudgetMs', '> 0', p.cpuBudgetMs);
  for (const [id, bias] of p.logitBias) {
    if (!Number.isSafeInteger(id) || Number.isNaN(bias)) fail('logitBias', 'integer ids to numbers', `${id}: ${bias}`);
  }
}

/**
 * Token limits and token-id checks, in one place for every route: the server's MAX_*_TOKENS capped
 * by the model's context, the vocabulary range of client-given ids, and feature extraction's
 * TEI-style truncation.
 */
import type { TokenLimitsConfig } from '../config.ts';
import { ServiceError } from './errors.ts';

/** Which end of an over-long input is cut (TEI's truncation_direction); null = refuse it. */
export type Truncation = 'left' | 'right' | null;

/**
 * The limits for one model: MAX_TOTAL_TOKENS never exceeds the model's context (n_positions), and the
 * input and new-token limits leave room for at least one token of the other. Where that makes a bound
 * tighter than the server's variable, `bounds` names what set it, so a refusal says the real reason.
 */
export function modelLimits(limits: TokenLimitsConfig, nPositions: number): TokenLimitsConfig {
  const byContext = nPositions < limits.maxTotalTokens;
  const maxTotalTokens = byContext ? nPositions : limits.maxTotalTokens;
  const total = byContext ? `the model's context n_positions=${nPositions}` : `MAX_TOTAL_TOKENS=${maxTotalTokens}`;
  const bounds: NonNullable<TokenLimitsConfig['bounds']> = {};
  if (byContext) bounds.max_total_tokens = total;
  const maxNewTokens = Math.min(limits.maxNewTokens, maxTotalTokens - 1);
  if (maxNewTokens < limits.maxNewTokens) bounds.max_new_tokens = `${total}, less 1 for the prompt`;
  const maxInputTokens = Math.min(limits.maxInputTokens, maxTotalTokens - 1);
  if (maxInputTokens < limits.maxInputTokens) bounds.max_input_tokens = `${total}, less 1 for a new token`;
  return { maxNewTokens, maxInputTokens, maxTotalTokens, ...(Object.keys(bounds).length > 0 ? { bounds } : {}) };
}

/** Every id must be a token of the vocabulary; `field` names the input (null: the prompt). */
export function checkTokenIds(ids: readonly number[], vocabSize: number, field: string | null): void {
  const bad = ids.find((t) => t >= vocabSize);
  if (bad === undefined) return;
  if (field === null) {
    throw new ServiceError('validation', `prompt token id ${bad} is out of range (vocabulary size ${vocabSize})`, { param: 'prompt' });
  }
  throw new ServiceError('validation', `${field} has token id ${bad}, out of range (vocabulary size ${vocabSize})`, { param: field });
}

/** Keeps at most `max` ids, cutting the given end; unchanged when no truncation was asked. */
export function truncateIds(ids: number[], truncate: Truncation, max: number): number[] {
  if (truncate === null || ids.length <= max) return ids;
  return truncate === 'right' ? ids.slice(0, max) : ids.slice(ids.length - max);
}

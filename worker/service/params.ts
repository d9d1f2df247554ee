/**
 * The generation parameters every dialect starts from (generation's defaults under the server's CPU
 * budget) before applying its own fields and defaults.
 */
import { defaultParams } from '../generation/defaults.ts';
import type { GenerationParams } from '../generation/types.ts';

export function baseParams(cpuBudgetMs: number): GenerationParams {
  return { ...defaultParams(), cpuBudgetMs };
}

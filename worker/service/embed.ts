/**
 * Feature extraction: GPT2Model's final hidden states (after ln_f, the graph's `last_hidden_state`
 * output), one forward pass per input, one after another. The graph has no attention mask, so inputs
 * of different lengths cannot share a padded batch. Equal-length inputs are not batched either: models
 * converted with per-tensor int8 activation scales (manifest `quantization.activations` "tensor" or
 * absent) would make an input's features depend on its neighbours (measured on an older int8 4×128
 * model: up to 2.3e-2 per value), and a batch would save little here. A list therefore answers exactly
 * what separate calls do. Each forward's KV cache is released at once.
 */
import { CpuMeter } from '../generation/cpu-meter.ts';
import { ServiceError, cancelled } from './errors.ts';
import type { Model } from './facts.ts';

/** One input's hidden states: row-major [tokens, nEmbd]. */
export interface HiddenStates {
  data: Float32Array;
  tokens: number;
  nEmbd: number;
}

/**
 * Runs each input through the model, after checking that all of them fit CPU_BUDGET_MS by the same
 * cost model generation uses (the clock is frozen in Workers while JS runs, so it cannot be read
 * mid-request): a too-large request is refused before any compute, not killed half-way.
 */
export async function embed(
  model: Model,
  inputs: readonly number[][],
  signal: AbortSignal,
  field: string,
  budget: number,
): Promise<HiddenStates[]> {
  const { lm, facts } = model;
  if (!facts.hiddenStates) {
    throw new ServiceError(
      'unsupported',
      `model ${model.id} was converted without hidden states (last_hidden_state); re-convert it to serve features`,
      {
        reason: 'model_not_supported',
      },
    );
  }
  const meter = new CpuMeter(budget, facts.costPrior, () => performance.now());
  const estimate = inputs.reduce((ms, ids) => ms + meter.estimate({ batch: 1, past: 0, seq: ids.length }), 0);
  if (estimate > budget) {
    throw new ServiceError(
      'over_limit',
      `these inputs need an estimated ${Math.ceil(estimate)} ms of compute, over CPU_BUDGET_MS (${budget}); send fewer or shorter inputs`,
      {
        param: field,
        reason: 'cpu_budget_exceeded',
      },
    );
  }
  const nEmbd = lm.config.nEmbd;
  const out: HiddenStates[] = [];
  for (const ids of inputs) {
    if (signal.aborted) throw cancelled();
    const r = await lm.forward({ inputIds: [ids], cache: null, logitsFor: 'last', hidden: true });
    lm.release(r.cache);
    if (!r.hidden || r.hidden.length !== ids.length * nEmbd)
      throw new ServiceError('failed', 'generation failed: the model returned invalid output');
    out.push({ data: r.hidden, tokens: ids.length, nEmbd }); // [1, tokens, n_embd]
  }
  if (signal.aborted) throw cancelled();
  return out;
}

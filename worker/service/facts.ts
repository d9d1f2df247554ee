/**
 * A loaded model as the service's callers see it: the facts they need (context length, width,
 * quantization, fingerprint, whether hidden states are served), derived once from the manifest,
 * plus the CausalLM and tokenizer generation runs on. The manifest itself stays in worker/model.
 */
import { costPriorFor } from '../generation/cost-prior.ts';
import type { CostPrior } from '../generation/cpu-meter.ts';
import type { CausalLM, TextTokenizer } from '../generation/types.ts';
import { stageGraphs, type Manifest } from '../model/manifest.ts';
import type { LoadedModel } from '../model/types.ts';

export interface ModelFacts {
  /** The model's context (config n_positions): no sequence is longer. */
  nPositions: number;
  /** Hidden size (config n_embd): the length of a feature vector. */
  nEmbd: number;
  vocabSize: number;
  /** What an empty prompt is conditioned on (<|endoftext|> for GPT-2). */
  bosTokenId: number;
  /** Weight quantization method ("int8", "fp32", "q4"): TGI's model_dtype. */
  quantization: string;
  /** Changes when the served weights change (OpenAI's system_fingerprint): from the first graph's hash. */
  fingerprint: string;
  /** The last stage outputs last_hidden_state, so feature extraction is served. */
  hiddenStates: boolean;
  /** Generation's CPU cost model for this shape and quantization (CPU_BUDGET_MS estimates). */
  costPrior: CostPrior;
}

/** A served model: what every route works with. */
export interface Model {
  id: string;
  lm: CausalLM;
  tokenizer: TextTokenizer;
  facts: ModelFacts;
}

export function modelFacts(m: Manifest): ModelFacts {
  const first = m.stages[0];
  return {
    nPositions: m.config.n_positions,
    nEmbd: m.config.n_embd,
    vocabSize: m.config.vocab_size,
    bosTokenId: m.config.bos_token_id,
    quantization: m.quantization.method,
    fingerprint: `fp_${(first ? stageGraphs(first)[0] : undefined)?.sha256.slice(0, 10) ?? 'unknown'}`,
    hiddenStates: m.stages.at(-1)?.outputs.includes('last_hidden_state') ?? false,
    costPrior: costPriorFor(m.config, m.quantization.method),
  };
}

const served = new WeakMap<LoadedModel, Model>();

/** The served view of a loaded model, computed once per loaded model. */
export function servedModel(loaded: LoadedModel): Model {
  let m = served.get(loaded);
  if (!m) {
    m = { id: loaded.id, lm: loaded.lm, tokenizer: loaded.tokenizer, facts: modelFacts(loaded.manifest) };
    served.set(loaded, m);
  }
  return m;
}

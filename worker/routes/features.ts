/**
 * Feature extraction from the same deployment and the same shards as generation: GPT2Model's final
 * hidden states (after ln_f, the graph's `last_hidden_state` output).
 *
 *   POST /pipeline/feature-extraction/:model   HF feature-extraction → `[1][tokens][n_embd]` per input
 *        (also /pipeline/feature-extraction/:org/:name and /models/:model/pipeline/feature-extraction,
 *        the hf-inference router's path)
 *   POST /v1/embeddings                        OpenAI embeddings → one mean-pooled vector per input
 *
 * Every input is its own forward pass, one after another: the graph has no attention mask, so inputs
 * of different lengths cannot share a padded batch, and even equal-length inputs are not batched
 * because int8 DynamicQuantizeMatMul picks one activation scale per tensor: batching makes an input's
 * features depend on its neighbours (measured on the bundled int8 4×128 model: up to 2.3e-2 per value
 * for a 7-token input batched with another, as large as int8's whole error against torch). A list
 * therefore answers exactly what separate calls do.
 * The forward's KV cache is released at once (feature extraction never continues a sequence).
 */
import { Hono, type Context } from 'hono';
import { BudgetError, CpuMeter, costPriorFor, GenerationError } from '../generation/index.ts';
import type { GenerationParams } from '../generation/types.ts';
import { readJson } from '../http/body.ts';
import { ApiError } from '../http/errors.ts';
import type { LoadedModel } from '../model/types.ts';
import { Cancelled } from '../wire/collect.ts';
import { embeddingsResponse, hfFeatures, l2Normalize, meanPool, type HiddenStates } from '../wire/features.ts';
import type { Engine } from './engine.ts';
import { refuseWhileLoading } from './hf.ts';
import { resolveModel } from './openai.ts';
import { baseParams } from './params/common.ts';
import { checkAnswerSize, parseEmbeddingsRequest, parseHfFeaturesRequest, planEmbeddings, planHfFeatures, type Truncation } from './params/features.ts';

export function featureRoutes(engine: Engine): Hono {
  const app = new Hono();

  const hfRoute = (modelOf: (c: Context) => string) => async (c: Context) => {
    const id = engine.resolve(modelOf(c));
    const plan = planHfFeatures(
      parseHfFeaturesRequest(await readJson(c.req.raw, { maxBytes: engine.config.maxBodyBytes, requireJsonContentType: false })),
    );
    refuseWhileLoading(c, engine, id, plan.waitForModel);
    const model = await engine.load(id);
    const ids = plan.inputs.map((text, i) => prepareInput(engine, model, text, plan.truncate, plan.single ? 'inputs' : `inputs[${i}]`));
    checkAnswerSize(ids.reduce((n, x) => n + x.length, 0), model.manifest.config.n_embd);
    const hidden = await extract(engine, model, ids, c.req.raw.signal, 'inputs');
    return c.json(hfFeatures(hidden, plan.single, plan.normalize));
  };
  const hub = (c: Context) => `${c.req.param('org')}/${c.req.param('name')}`;
  app.post('/pipeline/feature-extraction/:model', hfRoute((c) => c.req.param('model')!));
  app.post('/pipeline/feature-extraction/:org/:name', hfRoute(hub));
  app.post('/models/:model/pipeline/feature-extraction', hfRoute((c) => c.req.param('model')!));
  app.post('/models/:org/:name/pipeline/feature-extraction', hfRoute(hub));

  app.post('/v1/embeddings', async (c) => {
    const req = parseEmbeddingsRequest(await readJson(c.req.raw, { maxBytes: engine.config.maxBodyBytes, requireJsonContentType: true }));
    const id = resolveModel(engine, req.model);
    const plan = planEmbeddings(req);
    const model = await engine.load(id);
    const nEmbd = model.manifest.config.n_embd;
    if (plan.dimensions !== null && plan.dimensions !== nEmbd) {
      throw new ApiError('validation', `dimensions must be ${nEmbd} (this model's n_embd): other sizes are not supported`, { param: 'dimensions' });
    }
    const ids = plan.inputs.map((input, i) => prepareInput(engine, model, input, null, plan.inputs.length > 1 ? `input[${i}]` : 'input'));
    const hidden = await extract(engine, model, ids, c.req.raw.signal, 'input');
    const vectors = hidden.map((h) => (plan.normalize ? l2Normalize(meanPool(h)) : meanPool(h)));
    const promptTokens = ids.reduce((n, x) => n + x.length, 0);
    return c.json(embeddingsResponse(id, vectors, plan.encoding, promptTokens));
  });
  return app;
}

/** Nothing is generated: the token budget is the input limit alone (MAX_INPUT_TOKENS, n_positions). */
const NO_NEW_TOKENS: GenerationParams = { ...baseParams(0), maxNewTokens: 0 };

/**
 * Token ids of one input, checked like a prompt (engine.prepare: vocabulary, MAX_INPUT_TOKENS), after
 * TEI-style truncation when asked. `field` names the input in errors (`inputs[2]`).
 */
function prepareInput(engine: Engine, model: LoadedModel, input: string | readonly number[], truncate: Truncation, field: string): number[] {
  let ids = typeof input === 'string' ? model.tokenizer.encode(input) : [...input];
  const bad = ids.find((t) => t >= model.tokenizer.vocabSize);
  if (bad !== undefined) {
    throw new ApiError('validation', `${field} has token id ${bad}, out of range (vocabulary size ${model.tokenizer.vocabSize})`, { param: field });
  }
  const max = engine.limits(model).maxInputTokens;
  if (truncate !== null && ids.length > max) ids = truncate === 'right' ? ids.slice(0, max) : ids.slice(ids.length - max);
  try {
    return engine.prepare(model, ids, NO_NEW_TOKENS).promptIds;
  } catch (e) {
    if (e instanceof BudgetError) throw new ApiError('validation', `${field}: ${e.message}`, { param: field, code: 'context_length_exceeded' });
    throw e;
  }
}

/**
 * Runs each input through the model, after checking that all of them fit CPU_BUDGET_MS by the same
 * cost model generation uses (the clock is frozen in Workers while JS runs, so it cannot be read
 * mid-request): a too-large request is refused before any compute, not killed half-way.
 */
async function extract(engine: Engine, model: LoadedModel, inputs: readonly number[][], signal: AbortSignal, field: string): Promise<HiddenStates[]> {
  const { lm, manifest } = model;
  if (!manifest.stages.at(-1)?.outputs.includes('last_hidden_state')) {
    throw new ApiError('validation', `model ${model.id} was converted without hidden states (last_hidden_state); re-convert it to serve features`, {
      code: 'model_not_supported',
    });
  }
  const budget = engine.config.cpuBudgetMs;
  const meter = new CpuMeter(budget, costPriorFor(manifest.config, manifest.quantization.method), () => performance.now());
  const estimate = inputs.reduce((ms, ids) => ms + meter.estimate({ batch: 1, past: 0, seq: ids.length }), 0);
  if (estimate > budget) {
    throw new ApiError('validation', `these inputs need an estimated ${Math.ceil(estimate)} ms of compute, over CPU_BUDGET_MS (${budget}); send fewer or shorter inputs`, {
      param: field,
      code: 'cpu_budget_exceeded',
    });
  }
  const nEmbd = lm.config.nEmbd;
  const out: HiddenStates[] = [];
  for (const ids of inputs) {
    if (signal.aborted) throw new Cancelled('client closed the request');
    const r = await lm.forward({ inputIds: [ids], cache: null, logitsFor: 'last', hidden: true });
    lm.release(r.cache);
    if (!r.hidden || r.hidden.length !== ids.length * nEmbd) throw new GenerationError('model_output', 'the model returned no hidden states');
    out.push({ data: r.hidden, tokens: ids.length, nEmbd }); // [1, tokens, n_embd]
  }
  if (signal.aborted) throw new Cancelled('client closed the request');
  return out;
}

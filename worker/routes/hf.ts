/**
 * The Hugging Face Inference API route: POST /models/:model (JSON body or a bare JSON string),
 * `[{"generated_text": …}]` per sequence, `"stream": true` for TGI events, and `options.wait_for_model`
 * (default false, as the hosted API: while the model loads, 503 {"error", "estimated_time"} and the
 * load goes on in the background). GET /models/:model answers JSON facts, or the model's page when a
 * browser asks for HTML and a page renderer is wired.
 */
import { Hono, type Context } from 'hono';
import { readJson } from '../http/body.ts';
import { ApiError } from '../http/errors.ts';
import type { ModelState } from '../model/types.ts';
import { prefersHtml } from '../page/accept.ts';
import { collect } from '../wire/collect.ts';
import { tgiGenerateResponse } from '../wire/tgi.ts';
import type { Engine } from './engine.ts';
import { parseHfRequest, planHf, type HfPlan } from './params/hf.ts';
import { streamTgi } from './tgi.ts';

/** Renders the model's HTML page (another module); absent → GET answers JSON only. */
export type ModelPageRenderer = (c: Context, modelId: string) => Response | Promise<Response>;

const DEFAULT_LOAD_ESTIMATE_S = 20;

export function hfRoutes(engine: Engine, page?: ModelPageRenderer): Hono {
  const app = new Hono();

  // `/models/gpt2` and hub-style `/models/openai-community/gpt2` (through MODEL_ALIASES).
  const modelParam = (c: Context) => {
    const org = c.req.param('org');
    return org === undefined ? c.req.param('model') : `${org}/${c.req.param('name')}`;
  };
  const generateRoute = async (c: Context) => {
    const id = engine.resolve(modelParam(c));
    const plan = planHf(
      parseHfRequest(await readJson(c.req.raw, { maxBytes: engine.config.maxBodyBytes, requireJsonContentType: false })),
      engine.config,
    );
    refuseWhileLoading(c, engine, id, plan.waitForModel);
    if (plan.stream) {
      return streamTgi(c, engine, id, {
        inputs: plan.inputs,
        params: plan.params,
        reportedSeed: plan.reportedSeed,
        details: plan.details,
        decoderInputDetails: false,
        returnFullText: plan.returnFullText,
        bestOf: 1,
        truncate: null,
      });
    }
    return c.json(await generateHf(engine, id, plan, c.req.raw.signal));
  };
  const infoRoute = async (c: Context) => {
    const id = engine.resolve(modelParam(c));
    if (page && prefersHtml(c.req.header('accept'))) return page(c, id);
    return c.json({ id, pipeline_tag: 'text-generation', ...engine.models.state(id) });
  };
  app.post('/models/:model', generateRoute);
  app.post('/models/:org/:name', generateRoute);
  app.get('/models/:model', infoRoute);
  app.get('/models/:org/:name', infoRoute);
  return app;
}

async function generateHf(engine: Engine, id: string, plan: HfPlan, signal: AbortSignal) {
  const model = await engine.load(id);
  const prepared = engine.prepare(model, plan.inputs, plan.params);
  const gen = await collect(engine.run(prepared, plan.params, signal), signal);
  return gen.sequences.map((seq) =>
    tgiGenerateResponse(
      { prompt: null, sequences: [seq] },
      {
        seed: plan.reportedSeed,
        details: plan.details,
        prefix: plan.returnFullText ? plan.inputs : '',
        inputLength: prepared.promptIds.length,
        isSpecial: (tid) => model.tokenizer.isSpecial(tid),
        decoderInputDetails: false,
        bestOf: false,
      },
    ),
  );
}

/**
 * HF's `options.wait_for_model: false` (the hosted API's default): while the model is not loaded yet,
 * answer 503 {"error", "estimated_time"} + Retry-After and let the load go on in the background.
 */
export function refuseWhileLoading(c: Context, engine: Engine, id: string, waitForModel: boolean): void {
  const state = engine.models.state(id);
  if (waitForModel || (state.state !== 'unloaded' && state.state !== 'loading')) return;
  startLoadInBackground(c, engine, id);
  throw new ApiError('model_loading', `Model ${id} is currently loading`, {
    extra: { estimated_time: estimateSeconds(state) },
    headers: { 'Retry-After': String(Math.ceil(estimateSeconds(state))) },
  });
}

/** Starts (or joins) the load without awaiting it; its failure is seen by the next request. */
function startLoadInBackground(c: Context, engine: Engine, id: string): void {
  const p = engine.load(id).then(
    () => undefined,
    (e: unknown) => console.error(`background load of ${id} failed`, e instanceof Error ? e.message : e),
  );
  try {
    c.executionCtx.waitUntil(p);
  } catch {
    // No ExecutionContext (in-process tests): the promise still runs to completion.
  }
}

/** Seconds left, extrapolated from bytes loaded so far; a fixed guess before there is any progress. */
export function estimateSeconds(state: ModelState, now = Date.now()): number {
  if (state.state !== 'loading') return DEFAULT_LOAD_ESTIMATE_S;
  const { loadedBytes, totalBytes } = state.progress;
  const f = totalBytes > 0 ? loadedBytes / totalBytes : 0;
  if (f < 0.05) return DEFAULT_LOAD_ESTIMATE_S;
  const elapsed = Math.max(0, now - state.startedAt) / 1000;
  return Math.round(((elapsed * (1 - f)) / f + 1) * 10) / 10;
}

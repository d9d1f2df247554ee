/**
 * The Hugging Face Inference API route: POST /models/:model (JSON body or a bare JSON string),
 * `[{"generated_text": …}]` per sequence, `"stream": true` for TGI events, and `options.wait_for_model`
 * (default false, as the hosted API: while the model loads, 503 {"error", "estimated_time"} and the
 * load goes on in the background). GET /models/:model answers JSON facts, or the model's page when a
 * browser asks for HTML and a page renderer is wired.
 */
import { Hono, type Context } from 'hono';
import { readJson } from '../http/body.ts';
import { prefersHtml } from '../page/accept.ts';
import { collect } from '../service/collect.ts';
import type { Service } from '../service/service.ts';
import { tgiGenerateResponse } from '../wire/tgi.ts';
import { parseHfRequest, planHf, type HfPlan } from './params/hf.ts';
import { streamTgi } from './tgi.ts';

/** Renders the model's HTML page (another module); absent → GET answers JSON only. */
export type ModelPageRenderer = (c: Context, modelId: string) => Response | Promise<Response>;

export function hfRoutes(service: Service, page?: ModelPageRenderer): Hono {
  const app = new Hono();

  // `/models/gpt2` and hub-style `/models/openai-community/gpt2` (through MODEL_ALIASES).
  const modelParam = (c: Context) => {
    const org = c.req.param('org');
    return org === undefined ? c.req.param('model') : `${org}/${c.req.param('name')}`;
  };
  const generateRoute = async (c: Context) => {
    const id = service.resolve(modelParam(c));
    const plan = planHf(
      parseHfRequest(await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: false })),
      service.config,
    );
    refuseWhileLoading(c, service, id, plan.waitForModel);
    if (plan.stream) {
      return streamTgi(c, service, id, {
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
    return c.json(await generateHf(service, id, plan, c.req.raw.signal));
  };
  const infoRoute = async (c: Context) => {
    const id = service.resolve(modelParam(c));
    if (page && prefersHtml(c.req.header('accept'))) return page(c, id);
    return c.json({ id, pipeline_tag: 'text-generation', ...service.state(id) });
  };
  app.post('/models/:model', generateRoute);
  app.post('/models/:org/:name', generateRoute);
  app.get('/models/:model', infoRoute);
  app.get('/models/:org/:name', infoRoute);
  return app;
}

async function generateHf(service: Service, id: string, plan: HfPlan, signal: AbortSignal) {
  const model = await service.load(id);
  const prepared = service.prepare(model, plan.inputs, plan.params);
  const gen = await collect(service.run(prepared, plan.params, signal), signal);
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
export function refuseWhileLoading(c: Context, service: Service, id: string, waitForModel: boolean): void {
  if (waitForModel) return;
  service.requireReady(id, (p) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      // No ExecutionContext (in-process tests): the promise still runs to completion.
    }
  });
}

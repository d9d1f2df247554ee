/**
 * The Hugging Face Inference API route: POST /models/:model (JSON body or a bare JSON string),
 * `[{"generated_text": …}]` per sequence, `"stream": true` for TGI events, and `options.wait_for_model`
 * (default false, as the hosted API: while the model loads, 503 {"error", "estimated_time"} and the
 * load goes on in the background). GET /models/:model answers JSON facts, or the model's page when a
 * browser asks for HTML and a page renderer is wired. The answers are TGI's shapes (tgi/), as the
 * hosted API's were: the one place a dialect imports another.
 */
import { Hono, type Context } from 'hono';
import { prefersHtml } from '../../http/accept.ts';
import { background } from '../../http/background.ts';
import { readJson } from '../../http/body.ts';
import { speaks } from '../../http/dialect.ts';
import { collect } from '../../service/collect.ts';
import type { Service } from '../../service/types.ts';
import { streamTgi, tgiOptions } from '../tgi/generate.ts';
import { tgiGenerateResponse } from '../tgi/wire.ts';
import { parseHfRequest, planHf, type HfPlan } from './params.ts';

/** Renders the model's HTML page (another module); absent → GET answers JSON only. */
export type ModelPageRenderer = (c: Context, modelId: string) => Response | Promise<Response>;

export function hfRoutes(service: Service, page?: ModelPageRenderer): Hono {
  const app = new Hono();
  const hf = speaks('hf');

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
    if (!plan.waitForModel) service.requireReady(id, background(c));
    if (plan.stream) return streamTgi(c, service, id, plan);
    return c.json(await generateHf(service, id, plan, c.req.raw.signal));
  };
  const infoRoute = async (c: Context) => {
    const id = service.resolve(modelParam(c));
    if (page && prefersHtml(c.req.header('accept'))) return page(c, id);
    return c.json({ id, pipeline_tag: 'text-generation', ...service.state(id) });
  };
  app.post('/models/:model', hf, generateRoute);
  app.post('/models/:org/:name', hf, generateRoute);
  app.get('/models/:model', hf, infoRoute);
  app.get('/models/:org/:name', hf, infoRoute);
  return app;
}

/** One `{generated_text, details?}` per sequence (num_return_sequences). */
async function generateHf(service: Service, id: string, plan: HfPlan, signal: AbortSignal) {
  const model = await service.load(id);
  const prepared = service.prepare(model, plan.inputs, plan.params);
  const gen = await collect(service.run(prepared, plan.params, signal), signal);
  const opts = { ...tgiOptions(plan, prepared), decoderInputDetails: false, bestOf: false };
  return gen.sequences.map((seq) => tgiGenerateResponse({ prompt: null, sequences: [seq] }, opts));
}

/**
 * Text Generation Inference routes: POST /generate, POST /generate_stream, GET /generate_stream
 * (query parameters, for a browser EventSource), and TGI's compat POST / ({"stream": bool}).
 */
import { Hono, type Context } from 'hono';
import { readJson } from '../http/body.ts';
import { collect } from '../service/collect.ts';
import type { Service } from '../service/service.ts';
import { createTgiStreamEncoder, tgiGenerateResponse } from '../wire/tgi.ts';
import { parseTgiRequest, planTgi, type TgiPlan, type TgiRequest } from './params/tgi.ts';
import { queryToTgiRequest } from './params/query.ts';
import { consumeGeneration, streamWithModel } from './stream.ts';

export function tgiRoutes(service: Service): Hono {
  const app = new Hono();
  const body = async (c: Context): Promise<TgiRequest> =>
    parseTgiRequest(await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: true }));

  app.post('/generate', async (c) => {
    const req = await body(c);
    return c.json(await generateOnce(service, planTgi(req.inputs, req.parameters, service.config, { stream: false }), c.req.raw.signal));
  });
  app.post('/generate_stream', async (c) => {
    const req = await body(c);
    return streamTgi(c, service, service.defaultId, planTgi(req.inputs, req.parameters, service.config, { stream: true }));
  });
  // EventSource reconnects whenever a stream ends, and would start the generation over. Events carry
  // ids, so a reconnect announces itself with Last-Event-ID; 204 tells EventSource to stop.
  app.get('/generate_stream', (c) => {
    if (c.req.header('last-event-id') !== undefined) return c.body(null, 204);
    const req = parseTgiRequest(queryToTgiRequest(new URL(c.req.url).searchParams));
    return streamTgi(c, service, service.defaultId, planTgi(req.inputs, req.parameters, service.config, { stream: true }), true);
  });
  // TGI's compat route: the same request with a top-level "stream"; the non-stream answer is a list.
  app.post('/', async (c) => {
    const req = await body(c);
    if (req.stream) return streamTgi(c, service, service.defaultId, planTgi(req.inputs, req.parameters, service.config, { stream: true }));
    const plan = planTgi(req.inputs, req.parameters, service.config, { stream: false });
    return c.json([await generateOnce(service, plan, c.req.raw.signal)]);
  });
  return app;
}

/** Non-streaming TGI generation: one GenerateResponse (best of `best_of` when asked). */
export async function generateOnce(service: Service, plan: TgiPlan, signal?: AbortSignal, modelId?: string) {
  const model = await service.load(modelId ?? service.defaultId);
  const prepared = service.prepare(model, plan.inputs, plan.params, plan.truncate);
  const gen = await collect(service.run(prepared, plan.params, signal), signal);
  return tgiGenerateResponse(gen, {
    seed: plan.reportedSeed,
    details: plan.details,
    prefix: plan.returnFullText ? plan.inputs : '',
    inputLength: prepared.promptIds.length,
    isSpecial: (id) => model.tokenizer.isSpecial(id),
    decoderInputDetails: plan.decoderInputDetails,
    bestOf: plan.bestOf > 1,
  });
}

/** TGI token events for one sequence (also HF's `"stream": true`). */
export function streamTgi(c: Context, service: Service, modelId: string, plan: TgiPlan, eventIds = false): Promise<Response> {
  return streamWithModel(
    c,
    service,
    c.req.path.startsWith('/models/') ? 'hf' : 'tgi',
    modelId,
    (model) => service.prepare(model, plan.inputs, plan.params, plan.truncate),
    async (prepared, ch) => {
      const enc = createTgiStreamEncoder({
        seed: plan.reportedSeed,
        details: plan.details,
        prefix: plan.returnFullText ? plan.inputs : '',
        inputLength: prepared.promptIds.length,
        isSpecial: (id) => prepared.model.tokenizer.isSpecial(id),
        eventIds,
      });
      await consumeGeneration(service, prepared, plan.params, ch, async (ev) => {
        const out = ev.type === 'token' ? enc.token(ev) : ev.type === 'done' ? enc.done(ev.text, ev.finishReason, ev.generatedTokens) : [];
        for (const m of out) await ch.send(m);
      });
    },
  );
}

/**
 * Text Generation Inference routes: POST /generate, POST /generate_stream, GET /generate_stream
 * (query parameters, for a browser EventSource), and TGI's compat POST / ({"stream": bool}).
 * They serve the default model, as TGI serves its one model.
 */
import { Hono, type Context } from 'hono';
import { readJson } from '../../http/body.ts';
import { speaks } from '../../http/dialect.ts';
import type { Service } from '../../service/types.ts';
import { generateOnce, streamTgi } from './generate.ts';
import { parseTgiRequest, planTgi, type TgiRequest } from './params.ts';
import { queryToTgiRequest } from './query.ts';

export function tgiRoutes(service: Service): Hono {
  const app = new Hono();
  const tgi = speaks('tgi');
  const body = async (c: Context): Promise<TgiRequest> =>
    parseTgiRequest(await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: true }));
  const plan = (req: TgiRequest, stream: boolean) => planTgi(req.inputs, req.parameters, service.config, { stream });

  app.post('/generate', tgi, async (c) => c.json(await generateOnce(service, plan(await body(c), false), c.req.raw.signal)));
  app.post('/generate_stream', tgi, async (c) => streamTgi(c, service, service.defaultId, plan(await body(c), true)));
  // EventSource reconnects whenever a stream ends, and would start the generation over. Events carry
  // ids, so a reconnect announces itself with Last-Event-ID; 204 tells EventSource to stop.
  app.get('/generate_stream', tgi, (c) => {
    if (c.req.header('last-event-id') !== undefined) return c.body(null, 204);
    const req = parseTgiRequest(queryToTgiRequest(new URL(c.req.url).searchParams));
    return streamTgi(c, service, service.defaultId, plan(req, true), true);
  });
  // TGI's compat route: the same request with a top-level "stream"; the non-stream answer is a list.
  app.post('/', tgi, async (c) => {
    const req = await body(c);
    if (req.stream) return streamTgi(c, service, service.defaultId, plan(req, true));
    return c.json([await generateOnce(service, plan(req, false), c.req.raw.signal)]);
  });
  return app;
}

/**
 * Feature extraction from the same deployment and the same shards as generation: GPT2Model's final
 * hidden states (after ln_f, the graph's `last_hidden_state` output; see worker/service/embed.ts).
 *
 *   POST /pipeline/feature-extraction/:model   HF feature-extraction → `[1][tokens][n_embd]` per input
 *        (also /pipeline/feature-extraction/:org/:name and /models/:model/pipeline/feature-extraction,
 *        the hf-inference router's path)
 *   POST /v1/embeddings                        OpenAI embeddings → one mean-pooled vector per input
 */
import { Hono, type Context } from 'hono';
import { background } from '../../http/background.ts';
import { readJson } from '../../http/body.ts';
import { speaks } from '../../http/dialect.ts';
import { ApiError } from '../../http/errors.ts';
import type { Service } from '../../service/types.ts';
import { resolveOpenAiModel } from '../shared/model-field.ts';
import { checkAnswerSize, parseEmbeddingsRequest, parseHfFeaturesRequest, planEmbeddings, planHfFeatures } from './params.ts';
import { embeddingsResponse, hfFeatures, l2Normalize, meanPool } from './wire.ts';

export function featureRoutes(service: Service): Hono {
  const app = new Hono();

  const hfRoute = (modelOf: (c: Context) => string) => async (c: Context) => {
    const id = service.resolve(modelOf(c));
    const plan = planHfFeatures(
      parseHfFeaturesRequest(await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: false })),
    );
    if (!plan.waitForModel) service.requireReady(id, background(c));
    const model = await service.load(id);
    const ids = plan.inputs.map((text, i) => service.prepareInput(model, text, plan.truncate, plan.single ? 'inputs' : `inputs[${i}]`));
    checkAnswerSize(
      ids.reduce((n, x) => n + x.length, 0),
      model.facts.nEmbd,
    );
    const hidden = await service.embed(model, ids, c.req.raw.signal, 'inputs');
    return c.json(hfFeatures(hidden, plan.single, plan.normalize));
  };
  const hub = (c: Context) => `${c.req.param('org')}/${c.req.param('name')}`;
  app.post(
    '/pipeline/feature-extraction/:model',
    speaks('hf'),
    hfRoute((c) => c.req.param('model')!),
  );
  app.post('/pipeline/feature-extraction/:org/:name', speaks('hf'), hfRoute(hub));
  app.post(
    '/models/:model/pipeline/feature-extraction',
    speaks('hf'),
    hfRoute((c) => c.req.param('model')!),
  );
  app.post('/models/:org/:name/pipeline/feature-extraction', speaks('hf'), hfRoute(hub));

  app.post('/v1/embeddings', speaks('openai'), async (c) => {
    const req = parseEmbeddingsRequest(await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: true }));
    const id = resolveOpenAiModel(service, req.model);
    const plan = planEmbeddings(req);
    const model = await service.load(id);
    const nEmbd = model.facts.nEmbd;
    if (plan.dimensions !== null && plan.dimensions !== nEmbd) {
      throw new ApiError('validation', `dimensions must be ${nEmbd} (this model's n_embd): other sizes are not supported`, {
        param: 'dimensions',
      });
    }
    const ids = plan.inputs.map((input, i) => service.prepareInput(model, input, null, plan.inputs.length > 1 ? `input[${i}]` : 'input'));
    const hidden = await service.embed(model, ids, c.req.raw.signal, 'input');
    const vectors = hidden.map((h) => (plan.normalize ? l2Normalize(meanPool(h)) : meanPool(h)));
    const promptTokens = ids.reduce((n, x) => n + x.length, 0);
    return c.json(embeddingsResponse(id, vectors, plan.encoding, promptTokens));
  });
  return app;
}

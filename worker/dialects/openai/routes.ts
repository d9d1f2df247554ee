/**
 * OpenAI legacy completions: POST /v1/completions (also at /models/:model/v1/completions, where
 * @huggingface/inference sends text generation for an `endpointUrl`), GET /v1/models.
 * Several prompts run one after another over the same loaded model; choice index = prompt × n + k.
 * The request is resolved, planned and prepared once here; complete.ts answers JSON, stream.ts SSE.
 */
import { Hono, type Context } from 'hono';
import { readJson } from '../../http/body.ts';
import { speaks } from '../../http/dialect.ts';
import { ApiError } from '../../http/errors.ts';
import type { Model, Prepared, Service } from '../../service/types.ts';
import { resolveOpenAiModel } from '../shared/model-field.ts';
import { streamWithModel } from '../shared/stream.ts';
import { createCompletion } from './complete.ts';
import { parseOpenAiRequest, planOpenAi, type OpenAiPlan } from './params.ts';
import { streamCompletion } from './stream.ts';
import { completionId, type CompletionMeta } from './wire.ts';

export function openAiRoutes(service: Service): Hono {
  const app = new Hono();
  const openai = speaks('openai');
  const handle = async (c: Context, pathModel: string | undefined) => {
    const req = parseOpenAiRequest(await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: true }));
    const modelId = pathModel !== undefined ? service.resolve(pathModel) : resolveOpenAiModel(service, req.model);
    const plan = planOpenAi(req, service.config);
    const meta: CompletionMeta = { id: completionId(), created: Math.floor(Date.now() / 1000), model: modelId, systemFingerprint: '' };
    const prepareAll = (model: Model): Prepared[] => {
      checkLogitBias(model, plan);
      meta.systemFingerprint = model.facts.fingerprint;
      return plan.prompts.map((p) => service.prepare(model, p, plan.params));
    };
    if (plan.stream) {
      const tgiFields = pathModel !== undefined;
      return streamWithModel(c, service, modelId, prepareAll, (prepared, ch) =>
        streamCompletion(service, plan, meta, prepared, ch, tgiFields),
      );
    }
    const prepared = prepareAll(await service.load(modelId));
    return c.json(await createCompletion(service, plan, meta, prepared, c.req.raw.signal));
  };
  app.post('/v1/completions', openai, (c) => handle(c, undefined));
  app.post('/models/:model/v1/completions', openai, (c) => handle(c, c.req.param('model')));
  app.post('/models/:org/:name/v1/completions', openai, (c) => handle(c, `${c.req.param('org')}/${c.req.param('name')}`));

  app.get('/v1/models', openai, (c) =>
    c.json({
      object: 'list',
      data: service.ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'edge-gpt2' })),
    }),
  );
  return app;
}

function checkLogitBias(model: Model, plan: OpenAiPlan): void {
  for (const id of plan.params.logitBias.keys()) {
    if (id >= model.tokenizer.vocabSize) {
      throw new ApiError('validation', `logit_bias key ${id} is not a token id (vocabulary size ${model.tokenizer.vocabSize})`, {
        param: 'logit_bias',
      });
    }
  }
}

/**
 * OpenAI legacy completions: POST /v1/completions (also at /models/:model/v1/completions, where
 * @huggingface/inference sends text generation for an `endpointUrl`), GET /v1/models.
 * Several prompts run one after another over the same loaded model; choice index = prompt × n + k.
 */
import { Hono, type Context } from 'hono';
import { readJson } from '../http/body.ts';
import { ApiError } from '../http/errors.ts';
import { collect, cumulativeLogprob, type SequenceResult } from '../service/collect.ts';
import type { Model } from '../service/facts.ts';
import type { Prepared, Service } from '../service/service.ts';
import {
  codePoints,
  completion,
  completionId,
  createLogprobs,
  openAiFinish,
  usage,
  type ChoiceOut,
  type CompletionMeta,
} from '../wire/openai.ts';
import { parseOpenAiRequest, planOpenAi, type OpenAiPlan } from './params/openai.ts';
import { echoInto, promptText } from './openai-echo.ts';
import { streamCompletion } from './openai-stream.ts';
import { streamWithModel } from './stream.ts';

export function openAiRoutes(service: Service): Hono {
  const app = new Hono();
  const handle = async (c: Context, pathModel: string | undefined) => {
    const req = parseOpenAiRequest(await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: true }));
    const modelId = pathModel !== undefined ? service.resolve(pathModel) : resolveModel(service, req.model);
    const plan = planOpenAi(req, service.config);
    const meta: CompletionMeta = { id: completionId(), created: Math.floor(Date.now() / 1000), model: modelId, systemFingerprint: '' };
    const prepareAll = (model: Model): Prepared[] => {
      checkLogitBias(model, plan);
      meta.systemFingerprint = model.facts.fingerprint;
      return plan.prompts.map((p) => service.prepare(model, p, plan.params));
    };
    if (plan.stream) {
      const tgiFields = pathModel !== undefined;
      return streamWithModel(c, service, 'openai', modelId, prepareAll, (prepared, ch) => streamCompletion(service, plan, meta, prepared, ch, tgiFields));
    }
    const prepared = prepareAll(await service.load(modelId));
    return c.json(await createCompletion(service, plan, meta, prepared, c.req.raw.signal));
  };
  app.post('/v1/completions', (c) => handle(c, undefined));
  app.post('/models/:model/v1/completions', (c) => handle(c, c.req.param('model')));
  app.post('/models/:org/:name/v1/completions', (c) => handle(c, `${c.req.param('org')}/${c.req.param('name')}`));

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: service.ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'edge-gpt2' })),
    }),
  );
  return app;
}

/**
 * `model` names a served id. Absent, "tgi" (TGI's convention) or a URL (what @huggingface/inference
 * sends as `model` for an endpointUrl) mean the default model; anything else is OpenAI's 404.
 */
export function resolveModel(service: Service, model: string | null | undefined): string {
  if (model == null || model === '' || model === 'tgi' || /^https?:\/\//.test(model)) return service.defaultId;
  const id = service.lookup(model);
  if (id === undefined) {
    throw new ApiError('not_found', `The model \`${model.slice(0, 200)}\` does not exist; served models: ${service.ids.join(', ')}`, {
      param: 'model',
      code: 'model_not_found',
    });
  }
  return id;
}

function checkLogitBias(model: Model, plan: OpenAiPlan): void {
  for (const id of plan.params.logitBias.keys()) {
    if (id >= model.tokenizer.vocabSize) {
      throw new ApiError('validation', `logit_bias key ${id} is not a token id (vocabulary size ${model.tokenizer.vocabSize})`, { param: 'logit_bias' });
    }
  }
}

async function createCompletion(service: Service, plan: OpenAiPlan, meta: CompletionMeta, prepared: Prepared[], signal: AbortSignal) {
  const choices: ChoiceOut[] = [];
  let promptTokens = 0;
  let completionTokens = 0;
  for (const [pi, p] of prepared.entries()) {
    const model = p.model;
    const text0 = promptText(model, plan.prompts[pi]!);
    promptTokens += p.promptIds.length;
    const gen = await collect(service.run(p, plan.params, signal), signal);
    for (const s of gen.sequences) completionTokens += s.done.generatedTokens;
    const kept: SequenceResult[] =
      gen.sequences.length > plan.n ? [...gen.sequences].sort((a, b) => cumulativeLogprob(b) - cumulativeLogprob(a)).slice(0, plan.n) : gen.sequences;
    kept.forEach((seq, k) => {
      const lp = plan.logprobs !== null ? createLogprobs((id) => model.tokenizer.tokenBytes(id)) : null;
      if (plan.echo) echoInto(lp, model, gen.prompt);
      let offset = codePoints(text0);
      for (const t of seq.tokens) {
        lp?.add(t.top ? { id: t.id, logprob: t.logprob, top: t.top } : { id: t.id, logprob: t.logprob }, offset);
        offset += codePoints(t.text);
      }
      choices.push({
        text: (plan.echo ? text0 : '') + seq.done.text,
        index: pi * plan.n + k,
        logprobs: lp ? lp.all() : null,
        finish_reason: openAiFinish(seq.done.finishReason),
      });
    });
  }
  return completion(meta, choices, usage(promptTokens, completionTokens));
}

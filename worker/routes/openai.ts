/**
 * OpenAI legacy completions: POST /v1/completions (also at /models/:model/v1/completions, where
 * @huggingface/inference sends text generation for an `endpointUrl`), GET /v1/models.
 * Several prompts run one after another over the same loaded model; choice index = prompt × n + k.
 */
import { Hono, type Context } from 'hono';
import { readJson } from '../http/body.ts';
import { ApiError } from '../http/errors.ts';
import type { SSEChannel } from '../http/sse.ts';
import type { GenerationEvent } from '../generation/types.ts';
import type { LoadedModel } from '../model/types.ts';
import { collect, cumulativeLogprob, type PromptEvent, type SequenceResult } from '../wire/collect.ts';
import {
  chunk,
  codePoints,
  completion,
  completionId,
  createLogprobs,
  openAiFinish,
  usage,
  type ChoiceOut,
  type CompletionMeta,
} from '../wire/openai.ts';
import { jsonMessage } from '../wire/sse.ts';
import type { Engine, Prepared } from './engine.ts';
import { parseOpenAiRequest, planOpenAi, type OpenAiPlan } from './params/openai.ts';
import { consumeGeneration, streamWithModel } from './stream.ts';

export function openAiRoutes(engine: Engine): Hono {
  const app = new Hono();
  const handle = async (c: Context, pathModel: string | undefined) => {
    const req = parseOpenAiRequest(await readJson(c.req.raw, { maxBytes: engine.config.maxBodyBytes, requireJsonContentType: true }));
    const modelId = pathModel !== undefined ? engine.resolve(pathModel) : resolveModel(engine, req.model);
    const plan = planOpenAi(req, engine.config);
    const meta: CompletionMeta = { id: completionId(), created: Math.floor(Date.now() / 1000), model: modelId, systemFingerprint: '' };
    const prepareAll = (model: LoadedModel): Prepared[] => {
      checkLogitBias(model, plan);
      meta.systemFingerprint = fingerprint(model);
      return plan.prompts.map((p) => engine.prepare(model, p, plan.params));
    };
    if (plan.stream) {
      const tgiFields = pathModel !== undefined;
      return streamWithModel(c, engine, 'openai', modelId, prepareAll, (prepared, ch) => streamCompletion(engine, plan, meta, prepared, ch, tgiFields));
    }
    const prepared = prepareAll(await engine.load(modelId));
    return c.json(await createCompletion(engine, plan, meta, prepared, c.req.raw.signal));
  };
  app.post('/v1/completions', (c) => handle(c, undefined));
  app.post('/models/:model/v1/completions', (c) => handle(c, c.req.param('model')));

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: engine.models.ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'edge-gpt2' })),
    }),
  );
  return app;
}

/**
 * `model` names a served id. Absent, "tgi" (TGI's convention) or a URL (what @huggingface/inference
 * sends as `model` for an endpointUrl) mean the default model; anything else is OpenAI's 404.
 */
function resolveModel(engine: Engine, model: string | null | undefined): string {
  if (model == null || model === '' || model === 'tgi' || /^https?:\/\//.test(model)) return engine.models.defaultId;
  if (!engine.models.ids.includes(model)) {
    throw new ApiError('not_found', `The model \`${model.slice(0, 200)}\` does not exist; served models: ${engine.models.ids.join(', ')}`, {
      param: 'model',
      code: 'model_not_found',
    });
  }
  return model;
}

function checkLogitBias(model: LoadedModel, plan: OpenAiPlan): void {
  for (const id of plan.params.logitBias.keys()) {
    if (id >= model.tokenizer.vocabSize) {
      throw new ApiError('validation', `logit_bias key ${id} is not a token id (vocabulary size ${model.tokenizer.vocabSize})`, { param: 'logit_bias' });
    }
  }
}

/** Changes when the served weights change (OpenAI's meaning): derived from the first graph's hash. */
function fingerprint(model: LoadedModel): string {
  return `fp_${model.manifest.stages[0]?.graph.sha256.slice(0, 10) ?? 'unknown'}`;
}

const promptText = (model: LoadedModel, p: string | number[]) => (typeof p === 'string' ? p : model.tokenizer.decode(p));

/** Code-point offsets of each prompt token within the decoded prompt (bytes of partial characters wait). */
function promptOffsets(model: LoadedModel, ids: readonly number[]): number[] {
  const dec = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  let at = 0;
  return ids.map((id) => {
    const offset = at;
    at += codePoints(dec.decode(model.tokenizer.tokenBytes(id), { stream: true }));
    return offset;
  });
}

/** One choice's echo part: the prompt text and (with logprobs) its scored tokens. */
function echoInto(lp: ReturnType<typeof createLogprobs> | null, model: LoadedModel, prompt: PromptEvent | null): void {
  if (!lp || !prompt) return;
  const offsets = promptOffsets(model, prompt.tokens.map((t) => t.id));
  prompt.tokens.forEach((t, i) => lp.add(t.top ? { id: t.id, logprob: t.logprob, top: t.top } : { id: t.id, logprob: t.logprob }, offsets[i]!));
}

async function createCompletion(engine: Engine, plan: OpenAiPlan, meta: CompletionMeta, prepared: Prepared[], signal: AbortSignal) {
  const choices: ChoiceOut[] = [];
  let promptTokens = 0;
  let completionTokens = 0;
  for (const [pi, p] of prepared.entries()) {
    const model = p.model;
    const text0 = promptText(model, plan.prompts[pi]!);
    promptTokens += p.promptIds.length;
    const gen = await collect(engine.run(p, plan.params, signal));
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

/**
 * Streaming. On /models/:id/v1/completions (reached by @huggingface/inference's textGenerationStream,
 * which types its chunks as TGI StreamOutput) each chunk also carries TGI's `token`, `generated_text`
 * and `details` fields when there is one prompt and n = 1: chunks are then held one step, like TGI's
 * stream, so the last token's chunk can carry the finish. OpenAI clients ignore the extra fields.
 */
async function streamCompletion(
  engine: Engine,
  plan: OpenAiPlan,
  meta: CompletionMeta,
  prepared: Prepared[],
  ch: SSEChannel,
  tgiFields: boolean,
): Promise<void> {
  const send = (choices: ChoiceOut[], extra?: Record<string, unknown>) =>
    ch.send(jsonMessage({ ...chunk(meta, choices, plan.includeUsage), ...extra }));
  const hybrid = tgiFields && plan.n === 1 && prepared.length === 1;
  let promptTokens = 0;
  let completionTokens = 0;
  for (const [pi, p] of prepared.entries()) {
    const model = p.model;
    const text0 = promptText(model, plan.prompts[pi]!);
    promptTokens += p.promptIds.length;
    const seqs = Array.from({ length: plan.n }, () => ({
      emitted: '',
      offset: codePoints(text0),
      lp: plan.logprobs !== null ? createLogprobs((id) => model.tokenizer.tokenBytes(id)) : null,
      held: null as { choice: ChoiceOut; token: Record<string, unknown> } | null,
    }));
    const echo = async (prompt: PromptEvent | null) => {
      for (const [k, s] of seqs.entries()) {
        echoInto(s.lp, model, prompt);
        await send([{ text: text0, index: pi * plan.n + k, logprobs: s.lp ? s.lp.drain() : null, finish_reason: null }]);
      }
    };
    if (plan.echo && !plan.params.promptLogprobs) await echo(null);
    await consumeGeneration(engine, p, plan.params, ch, async (ev: GenerationEvent) => {
      if (ev.type === 'prompt') {
        if (plan.echo) await echo(ev);
        return;
      }
      const s = seqs[ev.sequence];
      if (!s) return;
      const index = pi * plan.n + ev.sequence;
      if (ev.type === 'token') {
        s.lp?.add(ev.top ? { id: ev.id, logprob: ev.logprob, top: ev.top } : { id: ev.id, logprob: ev.logprob }, s.offset);
        s.offset += codePoints(ev.text);
        s.emitted += ev.text;
        const choice: ChoiceOut = { text: ev.text, index, logprobs: s.lp ? s.lp.drain() : null, finish_reason: null };
        if (!hybrid) return send([choice]);
        if (s.held) await send([s.held.choice], { token: s.held.token, generated_text: null, details: null });
        s.held = { choice, token: { id: ev.id, text: ev.text, logprob: Number.isFinite(ev.logprob) ? ev.logprob : null, special: ev.special } };
        return;
      }
      completionTokens += ev.generatedTokens;
      // Text held back by stop-sequence matching and released at the end arrives here.
      const rest = ev.text.startsWith(s.emitted) ? ev.text.slice(s.emitted.length) : '';
      const finish = openAiFinish(ev.finishReason);
      if (hybrid && s.held) {
        const details = { finish_reason: ev.finishReason, generated_tokens: ev.generatedTokens, seed: plan.params.doSample ? plan.reportedSeed : null };
        await send([{ ...s.held.choice, text: s.held.choice.text + rest, finish_reason: finish }], {
          token: s.held.token,
          generated_text: (plan.echo ? text0 : '') + ev.text,
          details,
        });
        s.held = null;
        return;
      }
      await send([{ text: rest, index, logprobs: null, finish_reason: finish }]);
    });
    if (ch.signal.aborted) return;
  }
  if (plan.includeUsage) await ch.send(jsonMessage(chunk(meta, [], true, usage(promptTokens, completionTokens))));
  await ch.send({ data: '[DONE]' });
}

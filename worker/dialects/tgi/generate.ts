/**
 * TGI-shaped generation, non-streamed (one GenerateResponse) and streamed (TGI token events). The HF
 * route answers in the same shapes (the hosted Inference API ran on TGI), so it uses these too.
 */
import type { Context } from 'hono';
import { collect } from '../../service/collect.ts';
import type { GenerationParams, Prepared, Service } from '../../service/types.ts';
import { consumeGeneration, streamWithModel } from '../shared/stream.ts';
import type { TgiPlan } from './params.ts';
import { createTgiStreamEncoder, tgiGenerateResponse, type TgiWireOptions } from './wire.ts';

/** What a TGI-shaped answer needs from a request: TGI's plan, or HF's. */
export interface TgiAnswer {
  inputs: string;
  params: GenerationParams;
  reportedSeed: number | null;
  details: boolean;
  returnFullText: boolean;
  /** Keep the last N input tokens (TGI `truncate`). */
  truncate?: number | null;
}

/** The wire options of an answer to a prepared prompt (the one place they are built). */
export function tgiOptions(a: TgiAnswer, prepared: Prepared): TgiWireOptions {
  return {
    seed: a.reportedSeed,
    details: a.details,
    prefix: a.returnFullText ? a.inputs : '',
    inputLength: prepared.promptIds.length,
    isSpecial: (id) => prepared.model.tokenizer.isSpecial(id),
  };
}

/** Non-streaming TGI generation: one GenerateResponse (best of `best_of` when asked). */
export async function generateOnce(service: Service, plan: TgiPlan, signal: AbortSignal) {
  const model = await service.load(service.defaultId);
  const prepared = service.prepare(model, plan.inputs, plan.params, plan.truncate);
  const gen = await collect(service.run(prepared, plan.params, signal), signal);
  return tgiGenerateResponse(gen, {
    ...tgiOptions(plan, prepared),
    decoderInputDetails: plan.decoderInputDetails,
    bestOf: plan.bestOf > 1,
  });
}

/** TGI token events for one sequence (also HF's `"stream": true`). */
export function streamTgi(c: Context, service: Service, modelId: string, a: TgiAnswer, eventIds = false): Promise<Response> {
  return streamWithModel(
    c,
    service,
    modelId,
    (model) => service.prepare(model, a.inputs, a.params, a.truncate),
    async (prepared, ch) => {
      const enc = createTgiStreamEncoder({ ...tgiOptions(a, prepared), eventIds });
      await consumeGeneration(service, prepared, a.params, ch, async (ev) => {
        const out = ev.type === 'token' ? enc.token(ev) : ev.type === 'done' ? enc.done(ev) : [];
        for (const m of out) await ch.send(m);
      });
    },
  );
}

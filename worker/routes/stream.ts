/**
 * The shared shape of every streaming route: if the model is ready, tokenize and check the budget
 * *before* the first byte (so those errors are proper 4xx); otherwise open the stream at once, send
 * load progress as SSE comments, and report any load/budget error as the dialect's error event.
 */
import type { Context } from 'hono';
import type { GenerationEvent, GenerationParams } from '../generation/types.ts';
import { type Dialect, errorBody } from '../http/errors.ts';
import { progressComments, type SSEChannel, sseResponse } from '../http/sse.ts';
import type { LoadedModel } from '../model/types.ts';
import { jsonMessage } from '../wire/sse.ts';
import type { Engine, Prepared } from './engine.ts';

/** Opens an SSE response once `prepare` (tokenize + budget) has run on the loaded model. */
export async function streamWithModel<T>(
  c: Context,
  engine: Engine,
  dialect: Dialect,
  modelId: string,
  prepare: (model: LoadedModel) => T,
  run: (prepared: T, ch: SSEChannel) => Promise<void>,
): Promise<Response> {
  let prepared: { value: T } | undefined;
  if (engine.models.state(modelId).state === 'ready') prepared = { value: prepare(await engine.load(modelId)) };
  return sseResponse(
    c,
    async (ch) => {
      prepared ??= { value: prepare(await engine.load(modelId, progressComments(ch))) };
      await run(prepared.value, ch);
    },
    (err) => jsonMessage(errorBody(err, dialect)),
  );
}

/** Runs generation for a prepared prompt, always closing the generator (frees its KV cache). */
export async function consumeGeneration(
  engine: Engine,
  prepared: Prepared,
  params: GenerationParams,
  ch: SSEChannel,
  onEvent: (ev: GenerationEvent) => Promise<void>,
): Promise<void> {
  const events = engine.run(prepared, params, ch.signal);
  try {
    for await (const ev of events) {
      if (ch.signal.aborted) return;
      await onEvent(ev);
    }
  } finally {
    await events.return(undefined);
  }
}

/**
 * The shared shape of every streaming route: if the model is ready, tokenize and check the budget
 * *before* the first byte (so those errors are proper 4xx); otherwise open the stream at once, send
 * load progress as SSE comments, and report any load/budget error as the dialect's error event.
 */
import type { Context } from 'hono';
import { progressComments, type SSEChannel, sseResponse } from '../../http/sse.ts';
import type { GenerationEvent, GenerationParams, Model, Prepared, Service } from '../../service/types.ts';

/** Opens an SSE response once `prepare` (tokenize + budget) has run on the loaded model. */
export async function streamWithModel<T>(
  c: Context,
  service: Service,
  modelId: string,
  prepare: (model: Model) => T,
  run: (prepared: T, ch: SSEChannel) => Promise<void>,
): Promise<Response> {
  let prepared: { value: T } | undefined;
  if (service.isReady(modelId)) prepared = { value: prepare(await service.load(modelId)) };
  return sseResponse(c, async (ch) => {
    prepared ??= { value: prepare(await service.load(modelId, progressComments(ch))) };
    await run(prepared.value, ch);
  });
}

/** Runs generation for a prepared prompt, always closing the generator (frees its KV cache). */
export async function consumeGeneration(
  service: Service,
  prepared: Prepared,
  params: GenerationParams,
  ch: SSEChannel,
  onEvent: (ev: GenerationEvent) => Promise<void>,
): Promise<void> {
  const events = service.run(prepared, params, ch.signal);
  try {
    for await (const ev of events) {
      if (ch.signal.aborted) return;
      await onEvent(ev);
    }
  } finally {
    await events.return(undefined);
  }
}

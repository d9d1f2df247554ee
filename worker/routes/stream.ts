/**
 * The shared shape of every streaming route: if the model is ready, tokenize and check the budget
 * *before* the first byte (so those errors are proper 4xx); otherwise open the stream at once, send
 * load progress as SSE comments, and report any load/budget error as the dialect's error event.
 */
import type { Context } from 'hono';
import type { GenerationEvent, GenerationParams } from '../generation/types.ts';
import { type Dialect, errorBody } from '../http/errors.ts';
import { progressComments, type SSEChannel, sseResponse } from '../http/sse.ts';
import { jsonMessage } from '../wire/sse.ts';
import type { Engine, Prepared } from './engine.ts';

export interface StreamRequest {
  modelId: string;
  prompt: string | readonly number[];
  params: GenerationParams;
  truncate?: number | null;
}

export type StreamConsumer = (
  events: AsyncGenerator<GenerationEvent, void, undefined>,
  prepared: Prepared,
  ch: SSEChannel,
) => Promise<void>;

export async function streamGeneration(
  c: Context,
  engine: Engine,
  dialect: Dialect,
  req: StreamRequest,
  consume: StreamConsumer,
): Promise<Response> {
  let prepared: Prepared | undefined;
  if (engine.models.state(req.modelId).state === 'ready') {
    prepared = engine.prepare(await engine.load(req.modelId), req.prompt, req.params, req.truncate);
  }
  return sseResponse(
    c,
    async (ch) => {
      if (!prepared) {
        const model = await engine.load(req.modelId, progressComments(ch));
        prepared = engine.prepare(model, req.prompt, req.params, req.truncate);
      }
      const events = engine.run(prepared, req.params, ch.signal);
      try {
        await consume(events, prepared, ch);
      } finally {
        // Stops the generator (and frees its cache) if the consumer left early or threw.
        await events.return(undefined);
      }
    },
    (err) => jsonMessage(errorBody(err, dialect)),
  );
}

/**
 * Operations: GET /health (never loads anything, never needs a key), GET /info (TGI's Info, plus the
 * served models), POST /tokenize (TGI: [{id, text, start, stop}], offsets in code points of `inputs`).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { readJson } from '../../http/body.ts';
import { speaks } from '../../http/dialect.ts';
import { parseWith } from '../../http/validate.ts';
import type { Model, Service } from '../../service/types.ts';
import { MAX_SEQUENCES, MAX_STOP_SEQUENCES, MAX_TOP_N } from '../shared/params.ts';

const SERVER_VERSION = '0.1.0';

const TokenizeRequest = z.object({ inputs: z.string().min(1) });

export function opsRoutes(service: Service, heapBytes?: () => number): Hono {
  const app = new Hono();
  const tgi = speaks('tgi');

  app.get('/health', tgi, async (c) => {
    // A loaded model that batches also reports its step scheduler: steps, rows, refusals, KV bytes reserved.
    const models = Object.fromEntries(
      await Promise.all(
        service.ids.map(async (id) => {
          const state = service.state(id);
          const batching = state.state === 'ready' ? service.batchingStats(await service.load(id)) : undefined;
          return [id, batching ? { ...state, batching } : state] as const;
        }),
      ),
    );
    return c.json({ status: 'ok', models, ...(heapBytes ? { wasm_heap_bytes: heapBytes() } : {}) });
  });

  app.get('/info', tgi, async (c) => {
    const id = service.defaultId;
    // Model facts only when already loaded: /info must not trigger a load.
    const model = service.isReady(id) ? await service.load(id) : null;
    const limits = model ? service.limits(model) : service.config.limits;
    return c.json({
      model_id: id,
      model_sha: null,
      model_dtype: model ? model.facts.quantization : null,
      model_device_type: 'wasm',
      model_pipeline_tag: 'text-generation',
      max_concurrent_requests: null,
      max_best_of: MAX_SEQUENCES,
      max_stop_sequences: MAX_STOP_SEQUENCES,
      // The model's context, and the limits under it (TGI's max_input_tokens / max_total_tokens):
      // known once the model is loaded; before that, the server's own limits and null.
      n_positions: model ? model.facts.nPositions : null,
      max_input_tokens: limits.maxInputTokens,
      max_input_length: limits.maxInputTokens,
      max_total_tokens: limits.maxTotalTokens,
      max_new_tokens: limits.maxNewTokens,
      max_top_n_tokens: MAX_TOP_N,
      max_client_batch_size: 1,
      version: SERVER_VERSION,
      sha: null,
      docker_label: null,
      models: service.ids.map((mid) => ({ id: mid, state: service.state(mid).state })),
    });
  });

  app.post('/tokenize', tgi, async (c) => {
    const req = parseWith(
      TokenizeRequest,
      await readJson(c.req.raw, { maxBytes: service.config.maxBodyBytes, requireJsonContentType: true }),
    );
    const model = await service.load(service.defaultId);
    service.assertFits(model, req.inputs, 'inputs'); // issue 16: /tokenize capped like prompts
    return c.json(tokenizeWithOffsets(model, req.inputs));
  });
  return app;
}

/**
 * Byte-level BPE is lossless: the tokens' bytes concatenate to the input's UTF-8. So byte offsets come
 * from token lengths, and are mapped to code-point offsets (a token that starts or ends inside a
 * character covers the whole character).
 */
function tokenizeWithOffsets(model: Model, inputs: string) {
  const ids = model.tokenizer.encode(inputs);
  const chars = Array.from(inputs);
  // charAtByte[b] = index of the code point that byte b belongs to.
  const charAtByte: number[] = [];
  chars.forEach((ch, i) => {
    const n = new TextEncoder().encode(ch).length;
    for (let k = 0; k < n; k++) charAtByte.push(i);
  });
  let byte = 0;
  return ids.map((id) => {
    const len = model.tokenizer.tokenBytes(id).length;
    const start = charAtByte[byte] ?? chars.length;
    const endByte = byte + len;
    const stop = len === 0 ? start : (charAtByte[endByte - 1] ?? chars.length - 1) + 1;
    byte = endByte;
    return { id, text: chars.slice(start, stop).join(''), start, stop };
  });
}

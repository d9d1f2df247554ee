/**
 * Operations: GET /health (never loads anything, never needs a key), GET /info (TGI's Info, plus the
 * served models), POST /tokenize (TGI: [{id, text, start, stop}], offsets in code points of `inputs`).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { readJson } from '../http/body.ts';
import { parseWith } from '../http/validate.ts';
import { assertPromptFits } from '../generation/prompt-bound.ts';
import type { LoadedModel } from '../model/types.ts';
import type { Engine } from './engine.ts';
import { MAX_SEQUENCES, MAX_STOP_SEQUENCES, MAX_TOP_N } from './params/common.ts';

export const SERVER_VERSION = '0.1.0';

const TokenizeRequest = z.object({ inputs: z.string().min(1) });

export function opsRoutes(engine: Engine, heapBytes?: () => number): Hono {
  const app = new Hono();

  app.get('/health', (c) => {
    const models = Object.fromEntries(engine.models.ids.map((id) => [id, engine.models.state(id)]));
    return c.json({ status: 'ok', models, ...(heapBytes ? { wasm_heap_bytes: heapBytes() } : {}) });
  });

  app.get('/info', async (c) => {
    const id = engine.models.defaultId;
    // Facts from the manifest only when already loaded: /info must not trigger a load.
    const model = engine.models.state(id).state === 'ready' ? await engine.load(id) : null;
    const limits = model ? engine.limits(model) : engine.config.limits;
    return c.json({
      model_id: id,
      model_sha: null,
      model_dtype: model ? model.manifest.quantization.method : null,
      model_device_type: 'wasm',
      model_pipeline_tag: 'text-generation',
      max_concurrent_requests: null,
      max_best_of: MAX_SEQUENCES,
      max_stop_sequences: MAX_STOP_SEQUENCES,
      max_input_tokens: limits.maxInputTokens,
      max_input_length: limits.maxInputTokens,
      max_total_tokens: limits.maxTotalTokens,
      max_new_tokens: limits.maxNewTokens,
      max_top_n_tokens: MAX_TOP_N,
      max_client_batch_size: 1,
      version: SERVER_VERSION,
      sha: null,
      docker_label: null,
      models: engine.models.ids.map((mid) => ({ id: mid, state: engine.models.state(mid).state })),
    });
  });

  app.post('/tokenize', async (c) => {
    const req = parseWith(TokenizeRequest, await readJson(c.req.raw, { maxBytes: engine.config.maxBodyBytes, requireJsonContentType: true }));
    const model = await engine.load(engine.models.defaultId);
    assertPromptFits(model.tokenizer, req.inputs, engine.limits(model).maxInputTokens, 'inputs'); // issue 16: /tokenize capped like prompts
    return c.json(tokenizeWithOffsets(model, req.inputs));
  });
  return app;
}

/**
 * Byte-level BPE is lossless: the tokens' bytes concatenate to the input's UTF-8. So byte offsets come
 * from token lengths, and are mapped to code-point offsets (a token that starts or ends inside a
 * character covers the whole character).
 */
export function tokenizeWithOffsets(model: LoadedModel, inputs: string) {
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

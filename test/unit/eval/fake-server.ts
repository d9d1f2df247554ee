/**
 * A fake of the Worker's API for the eval pipeline: a bigram "model" (log p of a token depends only
 * on the previous one), so the exact perplexity of any text is known independently of windows.
 */
import type { FetchLike } from '../../../scripts/eval/client.ts';
import { gpt2Tokenizer } from '../../../scripts/eval/tokens.ts';

/** log p(cur | prev): deterministic, in (-6, -0.5]. */
export function bigramLogprob(prev: number, cur: number): number {
  return -0.5 - (((prev * 31 + cur * 17) % 97) / 97) * 5.5;
}

export interface FakeServerOptions {
  info?: Record<string, unknown>;
  /** Answer the first N completion requests with 503 (model loading). */
  fail503?: number;
  /** Greedy continuation: text for a prompt (default ''). */
  greedy?: (ids: number[], maxTokens: number) => string;
  /** No /tokenize route. */
  noTokenize?: boolean;
}

export interface FakeServer {
  fetch: FetchLike;
  prompts: number[][];
  requests: Record<string, unknown>[];
}

export function fakeServer(o: FakeServerOptions = {}): FakeServer {
  const tok = gpt2Tokenizer();
  const prompts: number[][] = [];
  const requests: Record<string, unknown>[] = [];
  let failures = o.fail503 ?? 0;
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const info = o.info ?? { model_id: 'fake', quantization: 'int8', n_positions: 16, max_input_tokens: 16, max_total_tokens: 16 };
  const fetch: FetchLike = async (url, init) => {
    const path = new URL(url).pathname;
    if (path === '/info') return json(info);
    const body = JSON.parse(String(init?.body ?? '{}')) as Record<string, unknown>;
    if (path === '/tokenize') {
      if (o.noTokenize) return json({ error: 'not found' }, 404);
      return json(tok.encode(String(body.inputs)).map((id) => ({ id, text: tok.decode([id]), start: 0, stop: 0 })));
    }
    if (path === '/v1/completions') {
      requests.push(body);
      if (failures > 0) {
        failures -= 1;
        return json({ error: { message: 'model is loading', type: 'server_error', param: null, code: 'model_loading' } }, 503);
      }
      const ids = body.prompt as number[];
      const maxTokens = body.max_tokens as number;
      const limit = (info.max_input_tokens as number | undefined) ?? Infinity;
      if (ids.length > limit)
        return json(
          { error: { message: `prompt too long (${ids.length} > ${limit})`, type: 'invalid_request_error', param: 'prompt', code: null } },
          400,
        );
      if (maxTokens === 0) {
        prompts.push(ids);
        const lp = ids.map((id, i) => (i === 0 ? null : bigramLogprob(ids[i - 1]!, id)));
        return json({
          choices: [
            {
              index: 0,
              text: tok.decode(ids),
              logprobs: { tokens: ids.map((i) => tok.decode([i])), token_logprobs: lp, top_logprobs: null, text_offset: [] },
              finish_reason: 'length',
            },
          ],
        });
      }
      return json({ choices: [{ index: 0, text: o.greedy?.(ids, maxTokens) ?? '', logprobs: null, finish_reason: 'length' }] });
    }
    return json({ error: 'not found' }, 404);
  };
  return { fetch, prompts, requests };
}

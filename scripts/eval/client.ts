/**
 * The Worker's API as the evaluator uses it: `GET /info` for the model's facts and limits, and
 * `POST /v1/completions` to score token ids (OpenAI legacy semantics: `echo: true`, `max_tokens: 0`,
 * `logprobs: 0` returns `choices[0].logprobs.token_logprobs` for the prompt, the first one null) or
 * to continue a prompt greedily (`temperature: 0`). `fetch` is injectable so tests can point it at an
 * in-process Hono app (`app.request`).
 */
import { z } from 'zod';

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  baseUrl: string;
  apiKey?: string;
  fetch?: FetchLike;
  /** Retries of a 429/502/503/504 or a network error, with exponential backoff (default 4). */
  retries?: number;
  /** Base backoff in ms (default 500); tests set 0. */
  backoffMs?: number;
  /** Per-request time limit in ms (default 600 000): a hung request fails instead of stalling the run. */
  timeoutMs?: number;
}

export type ApiErrorCode = 'http_error' | 'bad_response' | 'network_error';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ServerInfo {
  modelId: string;
  quantization: string | null;
  /** The model's context length when /info reports it. */
  nPositions: number | null;
  maxInputTokens: number | null;
  maxTotalTokens: number | null;
  raw: Record<string, unknown>;
}

const num = z.number().int().positive().optional().catch(undefined);
const InfoSchema = z.looseObject({
  model_id: z.string().optional(),
  model_dtype: z.string().optional().catch(undefined),
  quantization: z.unknown().optional(),
  n_positions: num,
  max_position_embeddings: num,
  max_input_tokens: num,
  max_input_length: num,
  max_total_tokens: num,
});

const CompletionSchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        text: z.string(),
        logprobs: z
          .looseObject({
            tokens: z.array(z.string()).optional(),
            token_logprobs: z.array(z.number().nullable()),
          })
          .nullable()
          .optional(),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .min(1),
});

export interface ApiClient {
  info(): Promise<ServerInfo>;
  /** log p(ids[i] | ids[0..i)) for every i; index 0 is null. */
  score(model: string, ids: readonly number[]): Promise<(number | null)[]>;
  /** Greedy continuation of `ids` by exactly up to `maxTokens` tokens; returns the generated text. */
  greedy(model: string, ids: readonly number[], maxTokens: number): Promise<string>;
  /** The server's token ids for `text` (TGI `POST /tokenize`), or null when the route is absent. */
  tokenize(model: string | undefined, text: string): Promise<number[] | null>;
}

export function createClient(opts: ClientOptions): ApiClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch: FetchLike = opts.fetch ?? ((url, init) => fetch(url, init));
  const retries = opts.retries ?? 4;
  const backoffMs = opts.backoffMs ?? 500;
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;

  async function call(path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      const init: RequestInit = {
        method: payload === undefined ? 'GET' : 'POST',
        headers,
        body: payload,
        signal: AbortSignal.timeout(timeoutMs),
      };
      try {
        res = await doFetch(`${base}${path}`, init);
      } catch (e) {
        if (attempt < retries) {
          await sleep(backoffMs * 2 ** attempt);
          continue;
        }
        throw new ApiError('network_error', `${path}: ${(e as Error).message}`);
      }
      const text = await res.text();
      if (res.ok) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new ApiError('bad_response', `${path}: response is not JSON: ${text.slice(0, 200)}`, res.status);
        }
      }
      // 503: model still loading or failed to load (transient); 429/502/504: overload or gateway.
      if ([429, 502, 503, 504].includes(res.status) && attempt < retries) {
        await sleep(backoffMs * 2 ** attempt);
        continue;
      }
      const hint = res.status === 401 ? ' (pass --api-key or set EDGE_GPT2_API_KEY)' : '';
      throw new ApiError('http_error', `${path}: HTTP ${res.status}: ${errorMessage(text)}${hint}`, res.status);
    }
  }

  return {
    async info() {
      const raw = await call('/info');
      const p = InfoSchema.safeParse(raw);
      if (!p.success) throw new ApiError('bad_response', `/info: unexpected shape: ${JSON.stringify(raw).slice(0, 200)}`);
      const d = p.data;
      const q = d.quantization;
      return {
        modelId: d.model_id ?? 'unknown',
        quantization: typeof q === 'string' ? q : isMethod(q) ? q.method : (d.model_dtype ?? null),
        nPositions: d.n_positions ?? d.max_position_embeddings ?? null,
        maxInputTokens: d.max_input_tokens ?? d.max_input_length ?? null,
        maxTotalTokens: d.max_total_tokens ?? null,
        raw: d,
      };
    },

    async score(model, ids) {
      const raw = await call('/v1/completions', { model, prompt: [...ids], max_tokens: 0, echo: true, logprobs: 0, temperature: 0 });
      const lp = parseCompletion(raw).logprobs?.token_logprobs;
      if (!lp || lp.length !== ids.length) {
        throw new ApiError(
          'bad_response',
          `/v1/completions: expected ${ids.length} prompt logprobs, got ${lp?.length ?? 'none'} (does the server support echo + logprobs + max_tokens 0?)`,
        );
      }
      return lp;
    },

    async tokenize(model, text) {
      let raw: unknown;
      try {
        raw = await call('/tokenize', model ? { model, inputs: text } : { inputs: text });
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
        throw e;
      }
      const p = z.array(z.looseObject({ id: z.number().int() })).safeParse(raw);
      if (!p.success) throw new ApiError('bad_response', `/tokenize: unexpected shape: ${JSON.stringify(raw).slice(0, 200)}`);
      return p.data.map((t) => t.id);
    },

    async greedy(model, ids, maxTokens) {
      const raw = await call('/v1/completions', { model, prompt: [...ids], max_tokens: maxTokens, temperature: 0 });
      return parseCompletion(raw).text;
    },
  };
}

function parseCompletion(raw: unknown) {
  const p = CompletionSchema.safeParse(raw);
  if (!p.success) throw new ApiError('bad_response', `/v1/completions: unexpected shape: ${JSON.stringify(raw).slice(0, 200)}`);
  return p.data.choices[0]!;
}

function isMethod(q: unknown): q is { method: string } {
  return typeof q === 'object' && q !== null && typeof (q as { method?: unknown }).method === 'string';
}

/** The server's message from an OpenAI (`{error:{message}}`) or TGI (`{error}`) error body. */
function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (typeof j.error === 'object' && j.error !== null && 'message' in j.error) return String((j.error as { message: unknown }).message);
  } catch {
    // not JSON: fall through
  }
  return text.slice(0, 300);
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

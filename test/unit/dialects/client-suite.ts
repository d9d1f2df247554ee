/**
 * The real client libraries against the Worker: `openai` (completions.create) and
 * `@huggingface/inference` (textGeneration / textGenerationStream with an endpointUrl), plus raw SSE
 * read with eventsource-parser and the cross-dialect seed check. Assertions hold for any model (they
 * compare routes and clients with each other, never against fixed text), so the same suite runs
 * in-process (`app.request`) and against real workerd (`SELF.fetch` or a baseURL).
 */
import { textGeneration, textGenerationStream } from '@huggingface/inference';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

export interface ClientTarget {
  /** Origin of the Worker, e.g. http://127.0.0.1:8787 (no trailing slash). */
  baseURL: string;
  fetch: typeof fetch;
  apiKey: string;
  modelId: string;
}

const PROMPT = 'Hello world';

async function sse(res: Response): Promise<EventSourceMessage[]> {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(value);
  }
  return events;
}

export function defineClientSuite(name: string, target: () => ClientTarget | Promise<ClientTarget>): void {
  const openai = async () => {
    const t = await target();
    return new OpenAI({ baseURL: `${t.baseURL}/v1`, apiKey: t.apiKey, fetch: t.fetch, maxRetries: 0 });
  };
  const post = async (path: string, body: unknown) => {
    const t = await target();
    return t.fetch(`${t.baseURL}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.apiKey}` },
      body: JSON.stringify(body),
    });
  };

  describe(`${name}: openai client`, () => {
    it('completions.create without and with stream give the same text for the same seed', async () => {
      const client = await openai();
      const t = await target();
      const params = { model: t.modelId, prompt: PROMPT, max_tokens: 8, seed: 1234, temperature: 0.9 };
      const full = await client.completions.create(params);
      expect(full.object).toBe('text_completion');
      expect(full.id).toMatch(/^cmpl-/);
      expect(full.model).toBe(t.modelId);
      expect(full.choices).toHaveLength(1);
      expect(['stop', 'length']).toContain(full.choices[0]!.finish_reason);
      expect(full.usage!.total_tokens).toBe(full.usage!.prompt_tokens + full.usage!.completion_tokens);

      const stream = await client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
      let text = '';
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        for (const ch of chunk.choices) {
          text += ch.text;
          if (ch.finish_reason) finish = ch.finish_reason;
        }
        if (chunk.usage) {
          expect(chunk.choices).toEqual([]);
          usage = chunk.usage;
        }
      }
      expect(text).toBe(full.choices[0]!.text);
      expect(finish).toBe(full.choices[0]!.finish_reason);
      expect(usage).toEqual(full.usage);
    });

    it('n: 2 gives two choices (indices 0, 1); logprobs gives tokens that spell the text', async () => {
      const client = await openai();
      const t = await target();
      const res = await client.completions.create({ model: t.modelId, prompt: PROMPT, max_tokens: 6, n: 2, seed: 7, logprobs: 2 });
      expect(res.choices.map((c) => c.index)).toEqual([0, 1]);
      for (const c of res.choices) {
        const lp = c.logprobs!;
        expect(lp.tokens!.length).toBe(res.usage!.completion_tokens / 2 || lp.tokens!.length);
        expect(lp.token_logprobs!.every((x) => typeof x === 'number' && x <= 0)).toBe(true);
        expect(lp.top_logprobs!.every((d) => Object.keys(d).length >= 1 && Object.keys(d).length <= 3)).toBe(true);
        expect(lp.text_offset![0]).toBe(PROMPT.length);
        if (lp.tokens!.every((s) => !s.startsWith('bytes:'))) expect(lp.tokens!.join('')).toBe(c.text);
      }
    });

    it('echo with max_tokens 0 and logprobs scores the prompt (first logprob null)', async () => {
      const client = await openai();
      const t = await target();
      const res = await client.completions.create({ model: t.modelId, prompt: PROMPT, max_tokens: 0, echo: true, logprobs: 1 });
      const c = res.choices[0]!;
      expect(c.text).toBe(PROMPT);
      expect(c.logprobs!.tokens!.join('')).toBe(PROMPT);
      expect(c.logprobs!.token_logprobs![0]).toBeNull();
      expect(c.logprobs!.token_logprobs!.slice(1).every((x) => typeof x === 'number' && x <= 0)).toBe(true);
      expect(c.logprobs!.text_offset![0]).toBe(0);
      expect(res.usage!.completion_tokens).toBe(0);
    });

    it('errors arrive as OpenAI APIErrors with status, type and param', async () => {
      const client = await openai();
      const err = await client.completions.create({ model: 'no-such-model', prompt: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      const bad = await client.completions
        .create({ model: (await target()).modelId, prompt: 'x', temperature: 5 })
        .catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
      expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('temperature');
    });
  });

  describe(`${name}: @huggingface/inference client`, () => {
    const hfArgs = async () => {
      const t = await target();
      return { endpointUrl: `${t.baseURL}/models/${t.modelId}`, accessToken: t.apiKey };
    };
    it('textGeneration and textGenerationStream return the same text as the other routes', async () => {
      const t = await target();
      const parameters = { max_new_tokens: 8, seed: 99, temperature: 0.8 };
      const one = await textGeneration({ ...(await hfArgs()), inputs: PROMPT, parameters }, { fetch: t.fetch });
      expect(typeof one.generated_text).toBe('string');
      let streamed = '';
      let final: string | null = null;
      for await (const ev of textGenerationStream({ ...(await hfArgs()), inputs: PROMPT, parameters }, { fetch: t.fetch })) {
        streamed += ev.token.text;
        if (ev.generated_text !== null) final = ev.generated_text;
      }
      expect(streamed).toBe(one.generated_text);
      expect(final).toBe(one.generated_text);
      const tgi = await (await post('/generate', { inputs: PROMPT, parameters: { ...parameters, do_sample: true } })).json();
      expect(tgi.generated_text).toBe(one.generated_text);
    });
  });

  describe(`${name}: raw SSE (eventsource-parser)`, () => {
    it('TGI stream: every event parses, tokens spell generated_text, no [DONE]', async () => {
      const res = await post('/generate_stream', { inputs: PROMPT, parameters: { max_new_tokens: 6, details: true } });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = (await sse(res)).map((e) => JSON.parse(e.data));
      const last = events[events.length - 1];
      expect(events.map((e) => e.token.text).join('')).toBe(last.generated_text);
      expect(last.details.generated_tokens).toBe(events.length);
      expect(events.slice(0, -1).every((e) => e.generated_text === null && e.details === null)).toBe(true);
    });
    it('OpenAI stream ends with data: [DONE]', async () => {
      const t = await target();
      const events = await sse(await post('/v1/completions', { model: t.modelId, prompt: PROMPT, max_tokens: 3, stream: true }));
      expect(events[events.length - 1]!.data).toBe('[DONE]');
      expect(events.slice(0, -1).every((e) => JSON.parse(e.data).object === 'text_completion')).toBe(true);
    });
  });

  describe(`${name}: one seed, three dialects`, () => {
    it('greedy and seeded sampling give identical text on TGI, HF and OpenAI', async () => {
      const t = await target();
      for (const sample of [false, true]) {
        const seed = 4242;
        const tgi = await (
          await post('/generate', {
            inputs: PROMPT,
            parameters: { max_new_tokens: 10, seed, do_sample: sample, temperature: 0.7, top_p: 0.9 },
          })
        ).json();
        const hf = await (
          await post(`/models/${t.modelId}`, {
            inputs: PROMPT,
            parameters: { max_new_tokens: 10, seed, do_sample: sample, temperature: 0.7, top_p: 0.9, top_k: 0, return_full_text: false },
          })
        ).json();
        const oa = await (
          await post('/v1/completions', {
            model: t.modelId,
            prompt: PROMPT,
            max_tokens: 10,
            seed,
            temperature: sample ? 0.7 : 0,
            top_p: 0.9,
          })
        ).json();
        expect(hf[0].generated_text).toBe(tgi.generated_text);
        expect(oa.choices[0].text).toBe(tgi.generated_text);
      }
    });
  });
}

import { describe, expect, it } from 'vitest';
import { generate } from '../../../../worker/generation/index.ts';
import { baseParams } from '../../../../worker/service/params.ts';
import type { GenerationEvent } from '../../../../worker/generation/types.ts';
import { collect } from '../../generation/fakes.ts';
import { fakeProvider, json, makeApp, parseSSE } from '../helpers.ts';

/** What generation itself produces for a prompt (the reference the wire must carry faithfully). */
async function reference(prompt: string, over: Partial<ReturnType<typeof baseParams>>) {
  const p = fakeProvider();
  const params = { ...baseParams(60_000), ...over };
  const events = await collect(generate(p.lm, p.tokenizer, p.tokenizer.encode(prompt), params));
  const tokens = events.filter((e): e is Extract<GenerationEvent, { type: 'token' }> => e.type === 'token');
  const done = events.find((e): e is Extract<GenerationEvent, { type: 'done' }> => e.type === 'done')!;
  return { tokens, done, inputLength: p.tokenizer.encode(prompt).length };
}

describe('POST /generate_stream', () => {
  it('streams TGI events byte for byte, details on the last event', async () => {
    const { app } = makeApp();
    const res = await app.request(
      '/generate_stream',
      json({ inputs: 'Hello', parameters: { max_new_tokens: 4, details: true, do_sample: true, seed: 5 } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const ref = await reference('Hello', { maxNewTokens: 4, doSample: true, seed: 5 });
    expect(ref.tokens).toHaveLength(4);
    const expected = ref.tokens
      .map((t, i) => {
        const last = i === ref.tokens.length - 1;
        return (
          `data: {"index":${i + 1},"token":{"id":${t.id},"text":${JSON.stringify(t.text)},"logprob":${t.logprob},"special":false},` +
          `"generated_text":${last ? JSON.stringify(ref.done.text) : 'null'},` +
          `"details":${last ? `{"finish_reason":"length","generated_tokens":4,"seed":5,"input_length":${ref.inputLength},"finish_detail":"max_new_tokens"}` : 'null'}}\n\n`
        );
      })
      .join('');
    expect(await res.text()).toBe(expected);
  });

  it('GET variant takes query parameters (for EventSource)', async () => {
    const { app } = makeApp();
    const post = await (
      await app.request('/generate_stream', json({ inputs: 'Hi there', parameters: { max_new_tokens: 3, stop: ['zz'] } }))
    ).text();
    const get = await (await app.request('/generate_stream?inputs=Hi%20there&max_new_tokens=3&stop=zz')).text();
    // Same events, plus an SSE id per event (so an EventSource reconnect can be told apart).
    expect(get).toBe(post.replace(/data: \{"index":(\d+),/g, 'id: $1\ndata: {"index":$1,'));
    expect(get).toContain('id: 3\ndata: {"index":3,');
    const again = await app.request('/generate_stream?inputs=Hi%20there&max_new_tokens=3', { headers: { 'last-event-id': '3' } });
    expect(again.status).toBe(204);
    const bad = await app.request('/generate_stream?inputs=x&max_new_tokens=abc');
    expect(bad.status).toBe(422);
    expect(await bad.json()).toEqual({ error: 'parameters.max_new_tokens must be a number', error_type: 'validation' });
  });

  it('rejects best_of and decoder_input_details when streaming, as TGI does', async () => {
    const { app } = makeApp();
    const r = await app.request('/generate_stream', json({ inputs: 'a', parameters: { best_of: 2, do_sample: true } }));
    expect(r.status).toBe(422);
    expect((await r.json()).error).toBe('parameters.best_of must be 1 when streaming');
  });

  it('sends load progress as SSE comments before the first token when the model is cold', async () => {
    const provider = fakeProvider({ ready: false });
    const { app } = makeApp({ provider });
    const res = await app.request('/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 2 } }));
    const text = await res.text();
    const { data, comments } = parseSSE(text);
    expect(comments).toEqual(['loading 0% (0.0/35.1 MB)', 'loading 35% (12.3/35.1 MB)']);
    expect(text.indexOf(': loading')).toBe(0);
    expect(data).toHaveLength(2);
    expect(provider.loads).toBe(1);
  });

  it('a budget error on a cold model arrives as a TGI error event (the 200 is already sent)', async () => {
    const { app } = makeApp({ provider: fakeProvider({ ready: false }) });
    const res = await app.request('/generate_stream', json({ inputs: 'x'.repeat(60), parameters: { max_new_tokens: 2 } }));
    expect(res.status).toBe(200);
    const { data } = parseSSE(await res.text());
    expect(data.map((d) => JSON.parse(d))).toEqual([
      { error: 'input is 60 tokens, over the limit of 48 (MAX_INPUT_TOKENS)', error_type: 'validation' },
    ]);
  });

  it('on a warm model the same budget error is a 422 before any byte', async () => {
    const { app } = makeApp();
    const res = await app.request('/generate_stream', json({ inputs: 'x'.repeat(60) }));
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ error: 'input is 60 tokens, over the limit of 48 (MAX_INPUT_TOKENS)', error_type: 'validation' });
  });

  it('a model error mid-stream becomes a sanitized error event, then the stream ends', async () => {
    const provider = fakeProvider({
      beforeForward: (_req, call) => {
        if (call === 2) throw new Error('ORT exploded at 0xdeadbeef /secret/path');
      },
    });
    const { app } = makeApp({ provider });
    const res = await app.request('/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 8 } }));
    const { data } = parseSSE(await res.text());
    const last = JSON.parse(data[data.length - 1]!);
    expect(last).toEqual({ error: 'internal error', error_type: 'internal' });
    expect(data.join('')).not.toContain('secret');
  });
});

describe('POST /generate', () => {
  it('returns generated_text, and TGI details when asked', async () => {
    const { app } = makeApp();
    const ref = await reference('Hello', { maxNewTokens: 5 });
    const plain = await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 5 } }));
    expect(await plain.json()).toEqual({ generated_text: ref.done.text });
    const res = await app.request(
      '/generate',
      json({ inputs: 'Hello', parameters: { max_new_tokens: 5, details: true, return_full_text: true } }),
    );
    const body = await res.json();
    expect(body.generated_text).toBe('Hello' + ref.done.text);
    expect(body.details).toEqual({
      finish_reason: ref.done.finishReason,
      generated_tokens: 5,
      seed: null, // greedy: TGI reports no seed
      prefill: [],
      tokens: ref.tokens.map((t) => ({ id: t.id, text: t.text, logprob: t.logprob, special: false })),
      finish_detail: 'max_new_tokens',
    });
  });

  it('decoder_input_details returns prefill logprobs (first null); top_n_tokens returns top_tokens', async () => {
    const { app } = makeApp();
    const res = await app.request(
      '/generate',
      json({ inputs: 'Hello world', parameters: { max_new_tokens: 2, details: true, decoder_input_details: true, top_n_tokens: 3 } }),
    );
    const d = (await res.json()).details;
    expect(d.prefill.map((t: { text: string }) => t.text).join('')).toBe('Hello world');
    expect(d.prefill[0].logprob).toBeNull();
    expect(typeof d.prefill[1].logprob).toBe('number');
    expect(d.top_tokens).toHaveLength(2);
    for (const alts of d.top_tokens) expect(alts).toHaveLength(3);
  });

  it('draws and reports a seed when sampling without one; the reported seed reproduces the text', async () => {
    const { app } = makeApp();
    const a = await (
      await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 6, do_sample: true, details: true } }))
    ).json();
    expect(Number.isSafeInteger(a.details.seed)).toBe(true);
    const b = await (
      await app.request(
        '/generate',
        json({ inputs: 'Hello', parameters: { max_new_tokens: 6, do_sample: true, details: true, seed: a.details.seed } }),
      )
    ).json();
    expect(b.generated_text).toBe(a.generated_text);
  });

  it('names the limit when max_new_tokens is over MAX_NEW_TOKENS', async () => {
    const { app } = makeApp();
    const res = await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 1000 } }));
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      error: 'parameters.max_new_tokens must be <= 32 (MAX_NEW_TOKENS), got 1000',
      error_type: 'validation',
    });
  });

  it('truncate keeps the last tokens of the input', async () => {
    const { app } = makeApp();
    const res = await app.request('/generate', json({ inputs: 'x'.repeat(60), parameters: { truncate: 10, max_new_tokens: 2 } }));
    expect(res.status).toBe(200);
  });

  it('TGI compat POST / answers a list, or streams with "stream": true', async () => {
    const { app } = makeApp();
    const list = await (await app.request('/', json({ inputs: 'Hello', parameters: { max_new_tokens: 3 } }))).json();
    const one = await (await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 3 } }))).json();
    expect(list).toEqual([one]);
    const s = await app.request('/', json({ inputs: 'Hello', stream: true, parameters: { max_new_tokens: 3 } }));
    expect(s.headers.get('content-type')).toBe('text/event-stream');
  });
});

describe('ops', () => {
  it('/health reports model states without loading', async () => {
    const provider = fakeProvider({ ready: false });
    const { app } = makeApp({ provider });
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', models: { 'edge-gpt2-brown': { state: 'unloaded' } } });
    expect(provider.loads).toBe(0);
  });
  it('/health reports the WASM heap when the runtime provides it', async () => {
    let heap = 19_300_000;
    const { app } = makeApp({ heapBytes: () => heap });
    expect(((await (await app.request('/health')).json()) as { wasm_heap_bytes: number }).wasm_heap_bytes).toBe(19_300_000);
    heap = 25_000_000; // read per request, not captured at start-up
    expect(((await (await app.request('/health')).json()) as { wasm_heap_bytes: number }).wasm_heap_bytes).toBe(25_000_000);
  });
  it('/tokenize returns ids with code-point offsets', async () => {
    const { app } = makeApp();
    const res = await app.request('/tokenize', json({ inputs: 'Hello wé' }));
    expect(await res.json()).toEqual([
      { id: 256, text: 'Hello', start: 0, stop: 5 },
      { id: 32, text: ' ', start: 5, stop: 6 },
      { id: 119, text: 'w', start: 6, stop: 7 },
      { id: 261, text: 'é', start: 7, stop: 8 },
    ]);
  });
  it('/info reports the limits and does not load the model', async () => {
    const provider = fakeProvider({ ready: false });
    const { app } = makeApp({ provider });
    const info = await (await app.request('/info')).json();
    expect(info).toMatchObject({
      model_id: 'edge-gpt2-brown',
      max_input_tokens: 48,
      max_total_tokens: 64,
      max_new_tokens: 32,
      model_dtype: null,
    });
    expect(provider.loads).toBe(0);
    expect(info.n_positions).toBeNull();
  });
  it('/info of a loaded model: n_positions, and the limits it caps (as TGI reports max_input_tokens / max_total_tokens)', async () => {
    const { app } = makeApp({ provider: fakeProvider({ nPositions: 40 }) });
    const info = await (await app.request('/info')).json();
    expect(info).toMatchObject({
      n_positions: 40,
      max_input_tokens: 39,
      max_input_length: 39,
      max_total_tokens: 40,
      max_new_tokens: 32,
      model_dtype: 'int8',
    });
  });
  it('limit errors name the real bound: the model context when it is tighter than MAX_*_TOKENS', async () => {
    const { app } = makeApp({ provider: fakeProvider({ nPositions: 40 }) });
    const long = await app.request('/generate', json({ inputs: 'a '.repeat(22), parameters: { max_new_tokens: 1 } }));
    expect(long.status).toBe(422);
    expect((await long.json()).error).toBe(
      "input is 44 tokens, over the limit of 39 (the model's context n_positions=40, less 1 for a new token)",
    );
    const total = await app.request('/generate', json({ inputs: 'a '.repeat(15), parameters: { max_new_tokens: 20 } }));
    expect((await total.json()).error).toBe(
      "inputs + max_new_tokens (50) must be <= 40 (the model's context n_positions=40): 30 input tokens + 20 new tokens",
    );
    const oa = await app.request('/v1/completions', json({ prompt: 'a '.repeat(22), max_tokens: 1 }));
    expect((await oa.json()).error).toMatchObject({
      param: 'max_input_tokens',
      code: 'context_length_exceeded',
      message: expect.stringContaining('n_positions=40'),
    });
    // Where MAX_INPUT_TOKENS is the tighter bound, the message names it, as before.
    const { app: wide } = makeApp();
    const w = await wide.request('/generate', json({ inputs: 'a '.repeat(30), parameters: { max_new_tokens: 1 } }));
    expect((await w.json()).error).toBe('input is 60 tokens, over the limit of 48 (MAX_INPUT_TOKENS)');
  });
  it('unknown paths are 404 in the path’s dialect', async () => {
    const { app } = makeApp();
    expect(await (await app.request('/nope')).json()).toEqual({ error: 'no route for GET /nope', error_type: 'not_found' });
    const o = await app.request('/v1/nope');
    expect(o.status).toBe(404);
    expect((await o.json()).error.type).toBe('invalid_request_error');
  });
});

import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../../../worker/model/types.ts';
import { fakeProvider, json, makeApp, parseSSE, testConfig } from '../helpers.ts';

const URL_ = '/models/edge-gpt2-brown';

describe('POST /models/:model (HF Inference API)', () => {
  it('accepts a bare JSON string body with any content type (the HF curl example) and returns the full text', async () => {
    const { app } = makeApp();
    const res = await app.request(URL_, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer x' },
      body: '"Hello world"',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { generated_text: string }[];
    expect(body).toHaveLength(1);
    expect(body[0]!.generated_text.startsWith('Hello world')).toBe(true);
    expect(body[0]!.generated_text.length).toBeGreaterThan('Hello world'.length);
  });

  it('samples by default (gpt2 on the hosted API) with a reproducible seed; return_full_text false drops the prompt', async () => {
    const { app } = makeApp();
    const req = (seed: number) =>
      app.request(URL_, json({ inputs: 'Hello', parameters: { seed, max_new_tokens: 8, return_full_text: false } }));
    const a = await (await req(1)).json();
    const b = await (await req(1)).json();
    const c = await (await req(2)).json();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a[0].generated_text.startsWith('Hello')).toBe(false);
  });

  it('num_return_sequences gives one object per sequence; details per sequence', async () => {
    const { app } = makeApp();
    const res = await app.request(
      URL_,
      json({ inputs: 'Hello', parameters: { num_return_sequences: 3, max_new_tokens: 4, seed: 3, details: true } }),
    );
    const body = await res.json();
    expect(body).toHaveLength(3);
    for (const s of body) {
      expect(s.details).toMatchObject({ generated_tokens: 4, finish_reason: 'length', seed: 3 });
    }
    expect(new Set(body.map((s: { generated_text: string }) => s.generated_text)).size).toBeGreaterThan(1);
  });

  it('rejects num_return_sequences > 1 when greedy, as transformers does', async () => {
    const { app } = makeApp();
    const res = await app.request(URL_, json({ inputs: 'Hello', parameters: { num_return_sequences: 2, do_sample: false } }));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'parameters.num_return_sequences > 1 requires sampling (do_sample: true)',
      error_type: 'validation',
    });
  });

  it('MODEL_ALIASES: /models/gpt2 and hub-style /models/org/name reach the served model', async () => {
    const aliases = new Map([
      ['gpt2', 'edge-gpt2-brown'],
      ['openai-community/gpt2', 'edge-gpt2-brown'],
    ]);
    const { app } = makeApp({ config: testConfig({ modelAliases: aliases }) });
    const body = { inputs: 'Hello', parameters: { seed: 3, max_new_tokens: 4 } };
    const direct = await (await app.request(URL_, json(body))).json();
    expect(await (await app.request('/models/gpt2', json(body))).json()).toEqual(direct);
    expect(await (await app.request('/models/openai-community/gpt2', json(body))).json()).toEqual(direct);
    const oa = await (await app.request('/v1/completions', json({ model: 'gpt2', prompt: 'Hello', max_tokens: 1 }))).json();
    expect(oa.model).toBe('edge-gpt2-brown');
    const hfClientPath = await app.request('/models/openai-community/gpt2/v1/completions', json({ prompt: 'Hello', max_tokens: 1 }));
    expect(hfClientPath.status).toBe(200);
    const missing = await app.request('/models/openai-community/gpt3', json(body));
    expect(missing.status).toBe(404);
  });

  it('unknown model id → 404 listing the served models', async () => {
    const { app } = makeApp();
    const res = await app.request('/models/gpt2-xl', json({ inputs: 'Hello' }));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: 'model "gpt2-xl" is not served here; served models: edge-gpt2-brown',
      error_type: 'not_found',
      models: ['edge-gpt2-brown'],
    });
  });

  it('"stream": true streams TGI events; generated_text includes the prompt (return_full_text default)', async () => {
    const { app } = makeApp();
    const res = await app.request(URL_, json({ inputs: 'Hello', stream: true, parameters: { max_new_tokens: 3, seed: 4 } }));
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSSE(await res.text()).data.map((d) => JSON.parse(d));
    expect(events).toHaveLength(3);
    const text = events.map((e) => e.token.text).join('');
    expect(events[2].generated_text).toBe('Hello' + text);
  });

  it('wait_for_model false (default) on a cold model: 503 + estimated_time, the load goes on in the background', async () => {
    const provider = fakeProvider({ ready: false });
    let open!: () => void;
    provider.gate = new Promise((r) => (open = r));
    const { app } = makeApp({ provider });
    const res = await app.request(URL_, json({ inputs: 'Hello' }));
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body).toMatchObject({ error: 'Model edge-gpt2-brown is currently loading', error_type: 'model_loading' });
    expect(typeof body.estimated_time).toBe('number');
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(provider.loads).toBe(1);
    expect(provider.state('edge-gpt2-brown').state).toBe('loading');
    open();
    await provider.get('edge-gpt2-brown');
    expect(provider.state('edge-gpt2-brown').state).toBe('ready');
    expect((await app.request(URL_, json({ inputs: 'Hello' }))).status).toBe(200);
    expect(provider.loads).toBe(1);
  });

  it('wait_for_model true waits for the load', async () => {
    const provider = fakeProvider({ ready: false });
    const { app } = makeApp({ provider });
    const res = await app.request(URL_, json({ inputs: 'Hello', options: { wait_for_model: true, use_cache: false } }));
    expect(res.status).toBe(200);
  });

  it('a ModelLoadError is a 503 with its reason; the next request retries and succeeds', async () => {
    const provider = fakeProvider({ ready: false });
    provider.failWith = new ModelLoadError('blob_corrupt', 'blob blobs/abc failed SHA-256 verification');
    const { app } = makeApp({ provider });
    const req = () => app.request(URL_, json({ inputs: 'Hello', options: { wait_for_model: true } }));
    const r1 = await req();
    expect(r1.status).toBe(503);
    expect(await r1.json()).toEqual({
      error: 'model could not be loaded: blob blobs/abc failed SHA-256 verification',
      error_type: 'model_load',
    });
    // failed state: even with wait_for_model false we retry (and surface the reason) rather than claim "loading"
    provider.failWith = null;
    const r2 = await app.request(URL_, json({ inputs: 'Hello' }));
    expect(r2.status).toBe(200);
    expect(provider.loads).toBe(2);
  });

  it('validation errors are 400 with the field and bound', async () => {
    const { app } = makeApp();
    const cases: [unknown, string][] = [
      [{ inputs: 'a', parameters: { temperature: -1 } }, 'parameters.temperature must be >= 0'],
      [{ inputs: 'a', parameters: { top_p: 1.5 } }, 'parameters.top_p must be <= 1'],
      [{ inputs: 'a', parameters: { max_new_tokens: 33 } }, 'parameters.max_new_tokens must be <= 32 (MAX_NEW_TOKENS), got 33'],
      [{ inputs: 'a', parameters: { stop: ['a', 'b', 'c', 'd', 'e'] } }, 'parameters.stop must have at most 4 items'],
      [{ inputs: ['a'] }, 'inputs must be a string'],
      [{ inputs: '' }, 'inputs must not be empty'],
      [42, 'request body must be an object'],
    ];
    for (const [body, error] of cases) {
      const res = await app.request(URL_, json(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toEqual({ error, error_type: 'validation' });
    }
  });
});

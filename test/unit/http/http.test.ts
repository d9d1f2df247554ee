import { describe, expect, it, vi } from 'vitest';
import { digestsEqual } from '../../../worker/http/auth.ts';
import { fakeProvider, json, makeApp, testConfig } from '../dialects/helpers.ts';

describe('auth', () => {
  const keyed = () => makeApp({ config: testConfig({ apiKeys: ['key-one', 'key-two'] }) }).app;
  const body = { inputs: 'Hello', parameters: { max_new_tokens: 1 } };

  it('401 in each dialect’s shape with WWW-Authenticate when the key is missing or wrong', async () => {
    const app = keyed();
    const tgi = await app.request('/generate', json(body));
    expect(tgi.status).toBe(401);
    expect(tgi.headers.get('www-authenticate')).toBe('Bearer');
    expect(await tgi.json()).toEqual({ error: 'missing API key: send "Authorization: Bearer <api key>"', error_type: 'authentication' });
    const hf = await app.request('/models/edge-gpt2-brown', json(body, { authorization: 'Bearer nope' }));
    expect(hf.status).toBe(401);
    expect(await hf.json()).toEqual({ error: 'invalid API key', error_type: 'authentication' });
    const oa = await app.request('/v1/completions', json({ prompt: 'x' }, { authorization: 'Bearer key-one-but-longer' }));
    expect(oa.status).toBe(401);
    expect(await oa.json()).toEqual({
      error: { message: 'invalid API key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
    });
    const basic = await app.request('/generate', json(body, { authorization: 'Basic a2V5LW9uZQ==' }));
    expect(basic.status).toBe(401);
  });

  it('accepts every configured key; /health stays open; the query key works only on GET /generate_stream', async () => {
    const app = keyed();
    expect((await app.request('/generate', json(body, { authorization: 'Bearer key-one' }))).status).toBe(200);
    expect((await app.request('/generate', json(body, { authorization: 'bearer key-two' }))).status).toBe(200);
    expect((await app.request('/health')).status).toBe(200);
    expect((await app.request('/info')).status).toBe(401);
    expect((await app.request('/generate_stream?inputs=Hi&max_new_tokens=1&api_key=key-two')).status).toBe(200);
    expect((await app.request('/generate_stream?inputs=Hi&max_new_tokens=1&api_key=key-three')).status).toBe(401);
    expect((await app.request('/generate?api_key=key-two', json(body))).status).toBe(401);
  });

  it('is open when no keys are configured', async () => {
    const { app } = makeApp();
    expect((await app.request('/generate', json(body))).status).toBe(200);
  });

  it('compares digests without early exit (all bytes visited)', () => {
    const a = new Uint8Array(32).fill(1);
    const b = new Uint8Array(32).fill(1);
    expect(digestsEqual(a, b)).toBe(true);
    b[31] = 2;
    expect(digestsEqual(a, b)).toBe(false);
    b[31] = 1;
    b[0] = 0;
    expect(digestsEqual(a, b)).toBe(false);
    expect(digestsEqual(a, new Uint8Array(31))).toBe(false);
  });
});

describe('CORS', () => {
  it('answers preflights without auth, echoing the requested headers', async () => {
    const { app } = makeApp({ config: testConfig({ apiKeys: ['k'], corsOrigins: ['https://app.example'] }) });
    const res = await app.request('/v1/completions', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, x-stainless-os',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,OPTIONS');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization,content-type,x-stainless-os');
  });

  it('does not allow other origins, and puts CORS headers on errors too', async () => {
    const { app } = makeApp({ config: testConfig({ apiKeys: ['k'], corsOrigins: ['https://app.example'] }) });
    const other = await app.request('/health', { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const err = await app.request('/generate', json({ inputs: 'x' }, { origin: 'https://app.example' }));
    expect(err.status).toBe(401);
    expect(err.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(err.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
  });
});

describe('body handling', () => {
  it('413 for bodies over the cap, by Content-Length or by streaming size', async () => {
    const { app } = makeApp({ config: testConfig({ maxBodyBytes: 100 }) });
    const big = JSON.stringify({ inputs: 'x'.repeat(200) });
    const r1 = await app.request('/generate', json(big));
    expect(r1.status).toBe(413);
    const chunked = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const r2 = await app.request('/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expect(r2.status).toBe(413);
    expect(await r2.json()).toEqual({ error: 'request body is larger than 100 bytes', error_type: 'payload_too_large' });
  });

  it('invalid UTF-8, bad JSON, wrong content type', async () => {
    const { app } = makeApp();
    const bytes = new Uint8Array([...new TextEncoder().encode('{"inputs":"'), 0xc3, 0x28, ...new TextEncoder().encode('"}')]);
    const r1 = await app.request('/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes });
    expect(r1.status).toBe(422);
    expect((await r1.json()).error).toBe('request body is not valid UTF-8');
    const r2 = await app.request('/v1/completions', json('{"prompt": "x",'));
    expect(r2.status).toBe(400);
    expect((await r2.json()).error.message).toBe('request body is not valid JSON');
    const r3 = await app.request('/generate', { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '{"inputs":"x"}' });
    expect(r3.status).toBe(415);
  });
});

describe('cancellation', () => {
  it('a client that disconnects mid-stream stops generation at the next step and frees the cache', async () => {
    const steps: number[] = [];
    const provider = fakeProvider();
    const { app } = makeApp({ provider, onStep: (s) => steps.push(s.step) });
    const res = await app.request('/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 30 } }));
    const reader = res.body!.getReader();
    let seen = '';
    while ((seen.match(/data: /g) ?? []).length < 3) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    // Let the generator observe the abort.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    const after = steps.length;
    expect(after).toBeLessThan(10);
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    expect(steps.length).toBe(after); // no further steps once it stopped
    expect(provider.lm.liveCaches).toBe(0);
  });

  it('a client that stops reading (its disconnect never reported) does not park the generation: it ends and frees the cache', async () => {
    const steps: number[] = [];
    const provider = fakeProvider();
    const { app } = makeApp({ provider, onStep: (s) => steps.push(s.step) });
    const res = await app.request('/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 25 } }));
    expect(res.status).toBe(200); // the body is never read
    // Wait (bounded) for the last step and for the generation's cleanup, which runs just after it: a parked
    // generation would keep its cache (liveCaches 1) and fail below once the bound runs out.
    for (let i = 0; i < 2000 && (steps.length < 25 || provider.lm.liveCaches > 0); i++) await new Promise((r) => setTimeout(r, 1));
    expect(steps.at(-1)).toBe(24); // the prefill's step 0, then one step per further token
    expect(provider.lm.liveCaches).toBe(0);
    await res.body!.cancel();
  });
});

describe('page hooks', () => {
  it('GET / and GET /models/:id (browser Accept) reach the page renderer without a key; API clients get JSON', async () => {
    const seen: string[] = [];
    const { app } = makeApp({
      config: testConfig({ apiKeys: ['k'] }),
      pages: {
        root: (c) => c.html('<p>root</p>'),
        model: (c, id) => {
          seen.push(id);
          return c.html(`<p>${id}</p>`);
        },
      },
    });
    expect(await (await app.request('/')).text()).toBe('<p>root</p>');
    const html = await app.request('/models/edge-gpt2-brown', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(html.status).toBe(200);
    expect(await html.text()).toBe('<p>edge-gpt2-brown</p>');
    expect(seen).toEqual(['edge-gpt2-brown']);
    const api = await app.request('/models/edge-gpt2-brown', { headers: { accept: '*/*' } });
    expect(api.status).toBe(401);
    const authed = await app.request('/models/edge-gpt2-brown', { headers: { accept: 'application/json', authorization: 'Bearer k' } });
    expect(await authed.json()).toEqual({ id: 'edge-gpt2-brown', pipeline_tag: 'text-generation', state: 'ready' });
  });
});

describe('concurrency and non-stream cancellation', () => {
  it('interleaved streams each get exactly the tokens they get alone', async () => {
    const { app } = makeApp();
    const body = (seed: number) => json({ inputs: 'Hello', parameters: { max_new_tokens: 12, do_sample: true, seed } });
    const alone = await Promise.all([1, 2].map(async (s) => (await app.request('/generate_stream', body(s))).text()));
    const [a, b] = await Promise.all([app.request('/generate_stream', body(1)), app.request('/generate_stream', body(2))]);
    const ra = a!.body!.getReader();
    const rb = b!.body!.getReader();
    const dec = [new TextDecoder(), new TextDecoder()];
    const out = ['', ''];
    let doneA = false;
    let doneB = false;
    while (!doneA || !doneB) {
      // Alternate reads so the two generations step in turns.
      if (!doneA) {
        const r = await ra.read();
        if (r.done) doneA = true;
        else out[0] += dec[0]!.decode(r.value, { stream: true });
      }
      if (!doneB) {
        const r = await rb.read();
        if (r.done) doneB = true;
        else out[1] += dec[1]!.decode(r.value, { stream: true });
      }
    }
    expect(out).toEqual(alone);
  });

  it('a non-streaming request whose client goes away stops generating', async () => {
    const steps: number[] = [];
    const ac = new AbortController();
    const provider = fakeProvider({
      beforeForward: (_req, call) => {
        if (call === 3) ac.abort();
      },
    });
    const { app } = makeApp({ provider, onStep: (s) => steps.push(s.step) });
    const errors: unknown[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a));
    const res = await app.request('/generate', { ...json({ inputs: 'Hello', parameters: { max_new_tokens: 30 } }), signal: ac.signal });
    spy.mockRestore();
    expect(res.status).toBe(499);
    expect(errors).toEqual([]); // a client leaving is not a server error
    expect(steps.length).toBeLessThan(6);
    expect(provider.lm.liveCaches).toBe(0);
  });
});

import { featureExtraction } from '@huggingface/inference';
import { describe, expect, it } from 'vitest';
import { checkAnswerSize, MAX_FEATURE_INPUTS, MAX_FEATURE_VALUES } from '../../../../worker/dialects/features/params.ts';
import { expectedHidden, featureProvider } from './fake.ts';
import { fakeProvider, json, makeApp, testConfig } from '../helpers.ts';

const URL_ = '/pipeline/feature-extraction/edge-gpt2-brown';

function setup(over: Parameters<typeof makeApp>[0] = {}) {
  const provider = featureProvider();
  return { ...makeApp({ provider, ...over }), provider };
}

describe('POST /pipeline/feature-extraction/:model (HF feature extraction)', () => {
  it('a string gives [1][tokens][n_embd]: the hidden state of every token, from a bare JSON string with any Content-Type', async () => {
    const { app, provider } = setup();
    const res = await app.request(URL_, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '"Hello world!"',
    });
    expect(res.status).toBe(200);
    const ids = provider.tokenizer.encode('Hello world!');
    expect(ids).toHaveLength(3); // 'Hello', ' world', '!'
    expect(await res.json()).toEqual([expectedHidden(ids)]);
  });

  it('a list gives one [1][tokens][n_embd] per input, equal to separate calls; one forward per input, no cache left', async () => {
    const { app, provider } = setup();
    const inputs = ['Hello world', 'a', 'Hello the world é'];
    const res = await app.request(URL_, json({ inputs }));
    expect(res.status).toBe(200);
    const batch = (await res.json()) as number[][][][];
    expect(batch).toHaveLength(3);
    const calls = provider.hlm.calls.length;
    for (const [i, text] of inputs.entries()) {
      const solo = await (await app.request(URL_, json({ inputs: text }))).json();
      expect(batch[i]).toEqual(solo);
      expect(batch[i]![0]).toHaveLength(provider.tokenizer.encode(text).length);
    }
    expect(provider.hlm.calls.slice(0, calls)).toEqual(
      inputs.map((t) => ({ inputIds: [provider.tokenizer.encode(t)], cache: null, logitsFor: 'last', hidden: true })),
    );
    expect(provider.lm.liveCaches).toBe(0);
  });

  it('answers on the hub-style path, the hf-inference router path and an alias', async () => {
    const aliases = new Map([
      ['openai-community/gpt2', 'edge-gpt2-brown'],
      ['gpt2', 'edge-gpt2-brown'],
    ]);
    const { app, provider } = setup({ config: testConfig({ modelAliases: aliases }) });
    const want = [expectedHidden(provider.tokenizer.encode('Hello'))];
    for (const path of [
      '/pipeline/feature-extraction/openai-community/gpt2',
      '/pipeline/feature-extraction/gpt2',
      '/models/edge-gpt2-brown/pipeline/feature-extraction',
      '/models/openai-community/gpt2/pipeline/feature-extraction',
    ]) {
      const res = await app.request(path, json({ inputs: 'Hello' }));
      expect(res.status, path).toBe(200);
      expect(await res.json(), path).toEqual(want);
    }
  });

  it('@huggingface/inference featureExtraction (endpointUrl = the pipeline URL) gets the same arrays, with the key', async () => {
    const { app, provider } = setup({ config: testConfig({ apiKeys: ['hf_test'] }) });
    const fetch_ = ((input: RequestInfo | URL, init?: RequestInit) =>
      app.request(input instanceof Request ? input : String(input), init)) as typeof fetch;
    const args = { endpointUrl: `http://edge-gpt2.test${URL_}`, accessToken: 'hf_test' };
    const one = await featureExtraction({ ...args, inputs: 'Hello world' }, { fetch: fetch_ });
    expect(one).toEqual([expectedHidden(provider.tokenizer.encode('Hello world'))]);
    const two = await featureExtraction({ ...args, inputs: ['a', 'Hello'] }, { fetch: fetch_ });
    expect(two).toEqual(['a', 'Hello'].map((t) => [expectedHidden(provider.tokenizer.encode(t))]));
  });

  it('refuses bad inputs with HF 400s {error, error_type}', async () => {
    const { app, provider } = setup();
    const cases: [unknown, string][] = [
      [{ inputs: '' }, 'inputs must not be empty'],
      [{ inputs: ['a', ''] }, 'inputs[1] must not be empty'],
      [{ inputs: [] }, 'inputs must have at least 1 items'],
      [{ inputs: 3 }, 'inputs has the wrong type'],
      [{}, 'inputs has the wrong type'],
      [{ inputs: Array(MAX_FEATURE_INPUTS + 1).fill('a') }, `inputs must have at most ${MAX_FEATURE_INPUTS} items`],
      [{ inputs: 'a', parameters: { truncate: 'yes' } }, 'parameters.truncate must be a boolean'],
      [{ inputs: 'a', prompt_name: 'query' }, 'prompt_name is not supported: this model has no configured prompts'],
      ['{"inputs": ', 'request body is not valid JSON'],
    ];
    for (const [body, error] of cases) {
      const res = await app.request(URL_, json(body));
      expect(res.status, error).toBe(400);
      expect(await res.json(), error).toEqual({ error, error_type: 'validation' });
    }
    expect(provider.hlm.calls).toHaveLength(0);
  });

  it('enforces MAX_INPUT_TOKENS per input, naming the input; truncate cuts right (default) or left instead', async () => {
    const { app, provider } = setup(); // testConfig: MAX_INPUT_TOKENS 48
    const long = 'abcdefghij'.repeat(6); // 60 byte tokens
    const ids = provider.tokenizer.encode(long);
    const res = await app.request(URL_, json({ inputs: ['ok', long] }));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'inputs[1]: input is 60 tokens, over the limit of 48 (MAX_INPUT_TOKENS)',
      error_type: 'validation',
    });
    expect(provider.hlm.calls).toHaveLength(0); // checked before any compute

    const right = await app.request(URL_, json({ inputs: long, truncate: true }));
    expect(await right.json()).toEqual([expectedHidden(ids.slice(0, 48))]);
    const left = await app.request(URL_, json({ inputs: long, parameters: { truncation: true, truncation_direction: 'left' } }));
    expect(await left.json()).toEqual([expectedHidden(ids.slice(12))]);
  });

  it('normalize: true gives unit-length token vectors in the same directions', async () => {
    const { app, provider } = setup();
    const body = (await (await app.request(URL_, json({ inputs: 'Hello world', normalize: true }))).json()) as number[][][];
    const raw = expectedHidden(provider.tokenizer.encode('Hello world'));
    expect(body[0]).toHaveLength(raw.length);
    body[0]!.forEach((row, t) => {
      const norm = Math.hypot(...row);
      expect(norm).toBeCloseTo(1, 6);
      const rawNorm = Math.hypot(...raw[t]!);
      row.forEach((x, e) => expect(x).toBeCloseTo(raw[t]![e]! / rawNorm, 6));
    });
  });

  it('needs the API key when keys are configured', async () => {
    const { app } = setup({ config: testConfig({ apiKeys: ['sk-1'] }) });
    const no = await app.request(URL_, json({ inputs: 'a' }));
    expect(no.status).toBe(401);
    expect(await no.json()).toMatchObject({ error_type: 'authentication' });
    expect((await app.request(URL_, json({ inputs: 'a' }, { authorization: 'Bearer sk-1' }))).status).toBe(200);
  });

  it('unknown model is a 404 listing the served ones', async () => {
    const { app } = setup();
    const res = await app.request('/pipeline/feature-extraction/nope', json({ inputs: 'a' }));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error_type: 'not_found', models: ['edge-gpt2-brown'] });
  });

  it('while the model loads: 503 with estimated_time (wait_for_model false, the default), or waits when asked', async () => {
    const provider = featureProvider({ ready: false });
    let open!: () => void;
    provider.gate = new Promise((r) => (open = r));
    const { app } = makeApp({ provider });
    const res = await app.request(URL_, json({ inputs: 'a' }));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.json()).toMatchObject({ error: 'Model edge-gpt2-brown is currently loading', error_type: 'model_loading' });
    const waiting = app.request(URL_, json({ inputs: 'a', options: { wait_for_model: true } }));
    open();
    expect((await waiting).status).toBe(200);
    expect(provider.loads).toBe(1);
  });

  it('a model converted without last_hidden_state is refused with a clear 400', async () => {
    const { app } = makeApp({ provider: fakeProvider() }); // the plain fake's manifest lists no outputs
    const res = await app.request(URL_, json({ inputs: 'a' }));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'model edge-gpt2-brown was converted without hidden states (last_hidden_state); re-convert it to serve features',
      error_type: 'validation',
    });
  });

  it('refuses, before computing anything, inputs whose estimated compute exceeds CPU_BUDGET_MS', async () => {
    const { app, provider } = setup({ config: testConfig({ cpuBudgetMs: 3 }) });
    const ok = await app.request(URL_, json({ inputs: 'a' })); // one 1-token forward: ~1 ms by the prior
    expect(ok.status).toBe(200);
    const res = await app.request(URL_, json({ inputs: ['a', 'b', 'c', 'd'] }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string };
    expect(body.error).toMatch(
      /^these inputs need an estimated \d+ ms of compute, over CPU_BUDGET_MS \(3\); send fewer or shorter inputs$/,
    );
    expect(provider.hlm.calls).toHaveLength(1);
  });

  it('a client that goes away stops the remaining inputs (499, nothing more computed)', async () => {
    const ac = new AbortController();
    const provider = featureProvider({ beforeForward: (_req, call) => (call === 1 ? ac.abort() : undefined) });
    const { app } = makeApp({ provider });
    const res = await app.request(new Request(`http://x${URL_}`, { ...json({ inputs: ['a', 'b', 'c', 'd'] }), signal: ac.signal }));
    expect(res.status).toBe(499);
    expect(provider.hlm.calls).toHaveLength(2);
    expect(provider.lm.liveCaches).toBe(0);
  });

  it('caps the size of an answer (tokens × n_embd numbers): GPT-2 small fits one full 768-token input', () => {
    expect(() => checkAnswerSize(1365, 768)).not.toThrow();
    expect(() => checkAnswerSize(1366, 768)).toThrow(
      `the answer would hold 1366 tokens × 768 values, over the limit of ${MAX_FEATURE_VALUES} numbers; send fewer or shorter inputs (or use /v1/embeddings for one pooled vector per input)`,
    );
  });
});

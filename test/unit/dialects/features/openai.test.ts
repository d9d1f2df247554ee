import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { MAX_FEATURE_INPUTS } from '../../../../worker/dialects/features/params.ts';
import { expectedHidden, featureProvider } from './fake.ts';
import { json, makeApp, testConfig } from '../helpers.ts';

const URL_ = '/v1/embeddings';

interface EmbeddingsBody {
  object: string;
  data: { object: string; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

function setup(over: Parameters<typeof makeApp>[0] = {}) {
  const provider = featureProvider();
  return { ...makeApp({ provider, ...over }), provider };
}

/** Mean over tokens of the fake's hidden states, in float64. */
function expectedMean(ids: number[]): number[] {
  const rows = expectedHidden(ids);
  return rows[0]!.map((_, e) => rows.reduce((s, r) => s + r[e]!, 0) / rows.length);
}

const decodeBase64 = (s: string) => new Float32Array(Uint8Array.from(Buffer.from(s, 'base64')).buffer);

describe('POST /v1/embeddings (OpenAI)', () => {
  it('one mean-pooled n_embd vector per input, in order, with usage', async () => {
    const { app, provider } = setup();
    const texts = ['Hello world', 'the é'];
    const res = await app.request(URL_, json({ model: 'edge-gpt2-brown', input: texts }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as EmbeddingsBody;
    const ids = texts.map((t) => provider.tokenizer.encode(t));
    const n = ids[0]!.length + ids[1]!.length;
    expect(ids.map((x) => x.length)).toEqual([2, 5]);
    expect(body).toMatchObject({ object: 'list', model: 'edge-gpt2-brown', usage: { prompt_tokens: n, total_tokens: n } });
    expect(body.data.map((d) => [d.object, d.index])).toEqual([
      ['embedding', 0],
      ['embedding', 1],
    ]);
    body.data.forEach((d, i) => {
      const want = expectedMean(ids[i]!);
      expect(d.embedding).toHaveLength(8);
      (d.embedding as number[]).forEach((x, e) => expect(x).toBeCloseTo(want[e]!, 6));
    });
    expect(provider.lm.liveCaches).toBe(0);
  });

  it('token ids (one list or several) embed like the text they encode; a list equals separate calls', async () => {
    const { app, provider } = setup();
    const ids = [provider.tokenizer.encode('Hello world'), provider.tokenizer.encode('a b')];
    const post = async (input: unknown) => ((await (await app.request(URL_, json({ input }))).json()) as EmbeddingsBody).data;
    const fromText = await post(['Hello world', 'a b']);
    expect(await post(ids)).toEqual(fromText);
    expect((await post(ids[0]))[0]!.embedding).toEqual(fromText[0]!.embedding);
    expect((await post('a b'))[0]!.embedding).toEqual(fromText[1]!.embedding);
  });

  it('encoding_format base64 is the float32 little-endian bytes of the same vector', async () => {
    const { app } = setup();
    const post = async (encoding_format?: string) =>
      ((await (await app.request(URL_, json({ input: ['Hello', 'the world'], encoding_format }))).json()) as EmbeddingsBody).data;
    const floats = await post('float');
    const b64 = await post('base64');
    expect(b64.map((d) => typeof d.embedding)).toEqual(['string', 'string']);
    b64.forEach((d, i) => expect(Array.from(decodeBase64(d.embedding as string))).toEqual(floats[i]!.embedding));
    expect(await post()).toEqual(floats); // float is the default on the wire
  });

  it('the openai SDK (base64 by default, decoded) gets the same vectors; dimensions = n_embd is accepted', async () => {
    const { app } = setup({ config: testConfig({ apiKeys: ['sk-1'] }) });
    const client = new OpenAI({
      apiKey: 'sk-1',
      baseURL: 'http://edge-gpt2.test/v1',
      fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
        app.request(input instanceof Request ? input : String(input), init)) as typeof fetch,
    });
    const sdk = await client.embeddings.create({ model: 'edge-gpt2-brown', input: ['Hello world', 'é'], dimensions: 8 });
    const raw = await client.embeddings.create({ model: 'edge-gpt2-brown', input: ['Hello world', 'é'], encoding_format: 'float' });
    expect(sdk.data.map((d) => Array.from(d.embedding))).toEqual(raw.data.map((d) => d.embedding));
    expect(sdk.usage).toEqual(raw.usage);
  });

  it('normalize: true (TEI/vLLM extension) gives a unit vector', async () => {
    const { app } = setup();
    const body = (await (await app.request(URL_, json({ input: 'Hello world', normalize: true }))).json()) as EmbeddingsBody;
    expect(Math.hypot(...(body.data[0]!.embedding as number[]))).toBeCloseTo(1, 6);
  });

  it('refuses bad requests with OpenAI 400s {error: {message, type, param, code}}', async () => {
    const { app, provider } = setup(); // MAX_INPUT_TOKENS 48, vocabulary 268
    const cases: [unknown, string, string | null, string | null][] = [
      [{ model: 'edge-gpt2-brown' }, 'input is required', 'input', 'missing_required_parameter'],
      [{ input: '' }, 'input must not be empty', 'input', null],
      [{ input: ['a', ''] }, 'input[1] must not be empty', 'input', null],
      [{ input: [] }, 'input has the wrong type', 'input', null],
      [
        { input: Array(MAX_FEATURE_INPUTS + 1).fill('a') },
        `input must have at most ${MAX_FEATURE_INPUTS} items`,
        'input',
        'array_above_max_length',
      ],
      [{ input: [1, 'a'] }, 'input has the wrong type', 'input', null],
      [{ input: [5, 9999] }, 'input has token id 9999, out of range (vocabulary size 268)', 'input', null],
      [{ input: 'a', dimensions: 4 }, "dimensions must be 8 (this model's n_embd): other sizes are not supported", 'dimensions', null],
      [{ input: 'a', encoding_format: 'int8' }, 'encoding_format must be one of "float", "base64"', 'encoding_format', null],
      [
        { input: ['a', 'x'.repeat(49)] },
        'input[1]: input is 49 tokens, over the limit of 48 (MAX_INPUT_TOKENS)',
        'input[1]',
        'context_length_exceeded',
      ],
    ];
    for (const [body, message, param, code] of cases) {
      const res = await app.request(URL_, json(body));
      expect(res.status, message).toBe(400);
      expect(await res.json(), message).toEqual({ error: { message, type: 'invalid_request_error', param, code } });
    }
    expect(provider.hlm.calls).toHaveLength(0);
  });

  it('model: a served id, an alias or absent (default); anything else is 404 model_not_found', async () => {
    const { app } = setup({ config: testConfig({ modelAliases: new Map([['text-embedding-3-small', 'edge-gpt2-brown']]) }) });
    for (const model of ['edge-gpt2-brown', 'text-embedding-3-small', undefined]) {
      const res = await app.request(URL_, json({ input: 'a', model }));
      expect(res.status, String(model)).toBe(200);
      expect(((await res.json()) as EmbeddingsBody).model).toBe('edge-gpt2-brown');
    }
    const res = await app.request(URL_, json({ input: 'a', model: 'gpt-5' }));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { param: 'model', code: 'model_not_found' } });
  });

  it('401 without the key (OpenAI shape), 415 for a non-JSON Content-Type', async () => {
    const { app } = setup({ config: testConfig({ apiKeys: ['sk-1'] }) });
    const res = await app.request(URL_, json({ input: 'a' }));
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_api_key' } });
    const plain = await app.request(URL_, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: 'Bearer sk-1' },
      body: '{"input":"a"}',
    });
    expect(plain.status).toBe(415);
  });
});

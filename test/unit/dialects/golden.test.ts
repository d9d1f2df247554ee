/**
 * Golden wire bytes of every dialect, driven in-process (`app.request`) over the routes' fake model:
 * status, the headers clients read, and the exact body of each response, streams included. They pin
 * the dialects' outputs while the code behind them moves; a change here is a change clients see.
 * Randomness is fixed (crypto.getRandomValues → a counter, Date.now → a constant), so drawn seeds
 * and completion ids are the same on every run. Update with `npx vitest run -u` only on purpose.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ModelLoadError } from '../../../worker/model/types.ts';
import { featureProvider } from './features/fake.ts';
import { fakeProvider, json, makeApp, testConfig } from './helpers.ts';

type Case = [name: string, path: string, init?: RequestInit];
type App = ReturnType<typeof makeApp>['app'];

const SHOWN_HEADERS = ['content-type', 'retry-after', 'www-authenticate', 'cache-control'];

async function record(app: App, cases: Case[]): Promise<string> {
  let out = '';
  for (const [name, path, init] of cases) {
    const res = await app.request(path, init);
    const headers = SHOWN_HEADERS.filter((h) => res.headers.has(h))
      .map((h) => `${h}: ${res.headers.get(h)}\n`)
      .join('');
    const body = typeof init?.body === 'string' ? ` ${init.body}` : '';
    out += `### ${name}\n${init?.method ?? 'GET'} ${path}${body}\n${res.status}\n${headers}\n${await res.text()}\n\n`;
  }
  return out;
}

beforeEach(() => {
  let n = 0;
  vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
    const bytes = new Uint8Array(a!.buffer, a!.byteOffset, a!.byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (n++ * 37 + 11) & 0xff;
    return a;
  });
  vi.spyOn(Date, 'now').mockReturnValue(1_790_000_000_000);
});
afterEach(() => vi.restoreAllMocks());

const file = (name: string) => `./__golden__/${name}.txt`;

describe('golden wire bytes', () => {
  it('TGI', async () => {
    const { app } = makeApp();
    const text = await record(app, [
      ['generate, greedy', '/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 5 } })],
      [
        'generate, details + decoder_input_details + top_n_tokens + full text',
        '/generate',
        json({
          inputs: 'Hello world',
          parameters: {
            max_new_tokens: 4,
            details: true,
            decoder_input_details: true,
            top_n_tokens: 2,
            return_full_text: true,
            do_sample: true,
            seed: 3,
          },
        }),
      ],
      [
        'generate, best_of (drawn seed)',
        '/generate',
        json({ inputs: 'The', parameters: { max_new_tokens: 3, best_of: 2, do_sample: true, details: true } }),
      ],
      [
        'generate, stop + truncate',
        '/generate',
        json({ inputs: 'a b c d e f', parameters: { max_new_tokens: 8, stop: ['e'], truncate: 3, details: true } }),
      ],
      [
        'generate_stream, details + top_n_tokens',
        '/generate_stream',
        json({ inputs: 'Hello', parameters: { max_new_tokens: 4, details: true, top_n_tokens: 2, do_sample: true, seed: 5 } }),
      ],
      ['generate_stream, stop', '/generate_stream', json({ inputs: 'Hi there', parameters: { max_new_tokens: 6, stop: ['e'] } })],
      ['GET generate_stream', '/generate_stream?inputs=Hi%20there&max_new_tokens=3&stop=zz&details=true'],
      ['compat POST /, not streamed', '/', json({ inputs: 'Hello', parameters: { max_new_tokens: 3 } })],
      ['compat POST /, streamed', '/', json({ inputs: 'Hello', stream: true, parameters: { max_new_tokens: 3 } })],
      ['error: bad JSON', '/generate', json('{"inputs": ')],
      ['error: wrong type', '/generate', json({ inputs: 'a', parameters: { temperature: 0 } })],
      ['error: empty inputs', '/generate', json({ inputs: '' })],
      ['error: input over the budget', '/generate', json({ inputs: 'a '.repeat(60), parameters: { max_new_tokens: 2 } })],
      ['error: total over the budget', '/generate_stream', json({ inputs: 'a '.repeat(20), parameters: { max_new_tokens: 30 } })],
      ['error: content type', '/generate', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }],
      ['error: body too large', '/generate', json({ inputs: 'x'.repeat(70_000) })],
      ['error: unknown route', '/nope'],
    ]);
    await expect(text).toMatchFileSnapshot(file('tgi'));
  });

  it('TGI on a cold model: progress comments, and an error event after the stream has started', async () => {
    const provider = fakeProvider({ ready: false });
    const { app } = makeApp({ provider });
    const text = await record(app, [
      ['cold stream: over budget after the load', '/generate_stream', json({ inputs: 'a '.repeat(60), parameters: { max_new_tokens: 2 } })],
    ]);
    provider.failWith = new ModelLoadError('blob_corrupt', 'blobs/abc fails its SHA-256 check');
    const failed = await record(makeApp({ provider: Object.assign(fakeProvider({ ready: false }), { failWith: provider.failWith }) }).app, [
      ['load failure, not streamed', '/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 2 } })],
      ['load failure, streamed', '/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 2 } })],
    ]);
    const cold = fakeProvider({ ready: false });
    const coldOk = await record(makeApp({ provider: cold }).app, [
      ['cold stream, ok', '/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 2 } })],
    ]);
    await expect(text + failed + coldOk).toMatchFileSnapshot(file('tgi-cold'));
  });

  it('HF', async () => {
    const aliases = new Map([
      ['openai-community/gpt2', 'edge-gpt2-brown'],
      ['gpt2', 'edge-gpt2-brown'],
    ]);
    const { app } = makeApp({ config: testConfig({ modelAliases: aliases }) });
    const text = await record(app, [
      [
        'bare string',
        '/models/edge-gpt2-brown',
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '"Once upon"' },
      ],
      [
        'num_return_sequences + details',
        '/models/edge-gpt2-brown',
        json({
          inputs: 'Hello',
          parameters: { max_new_tokens: 4, num_return_sequences: 2, details: true, seed: 1, return_full_text: false },
        }),
      ],
      [
        'greedy via temperature 0, stop',
        '/models/gpt2',
        json({ inputs: 'Hello', parameters: { max_new_tokens: 6, temperature: 0, stop: ['o'] } }),
      ],
      [
        'hub-style alias, stream',
        '/models/openai-community/gpt2',
        json({ inputs: 'Hello', stream: true, parameters: { max_new_tokens: 3, seed: 2, details: true } }),
      ],
      ['GET facts', '/models/edge-gpt2-brown', { headers: { accept: 'application/json' } }],
      ['error: unknown model', '/models/nope', json({ inputs: 'Hello' })],
      ['error: validation', '/models/edge-gpt2-brown', json({ inputs: 'Hello', parameters: { top_p: 2 } })],
      ['error: over budget', '/models/edge-gpt2-brown', json({ inputs: 'a '.repeat(60) })],
      ['error: streaming n > 1', '/models/edge-gpt2-brown', json({ inputs: 'a', stream: true, parameters: { num_return_sequences: 2 } })],
    ]);
    const loading = await record(makeApp({ provider: fakeProvider({ ready: false }) }).app, [
      ['wait_for_model false while loading', '/models/edge-gpt2-brown', json({ inputs: 'Hello' })],
    ]);
    await expect(text + loading).toMatchFileSnapshot(file('hf'));
  });

  it('OpenAI', async () => {
    const { app } = makeApp({
      config: testConfig({
        modelAliases: new Map([
          ['gpt2', 'edge-gpt2-brown'],
          ['openai-community/gpt2', 'edge-gpt2-brown'],
        ]),
      }),
    });
    const text = await record(app, [
      ['one prompt', '/v1/completions', json({ model: 'edge-gpt2-brown', prompt: 'Hello', max_tokens: 4, seed: 1 })],
      [
        'prompts × n, logprobs, echo, stop',
        '/v1/completions',
        json({ model: 'gpt2', prompt: ['Hello', 'The é'], n: 2, max_tokens: 3, logprobs: 2, echo: true, seed: 7, stop: ['zz'] }),
      ],
      ['best_of, greedy top_p 0', '/v1/completions', json({ prompt: 'Hi', max_tokens: 3, best_of: 3, seed: 4 })],
      [
        'prompt scoring: max_tokens 0 + echo + logprobs',
        '/v1/completions',
        json({ prompt: 'Hello world', max_tokens: 0, echo: true, logprobs: 1 }),
      ],
      ['token-id prompts, temperature 0', '/v1/completions', json({ prompt: [[72, 101], [257]], max_tokens: 2, temperature: 0 })],
      [
        'empty prompt (BOS), logit_bias',
        '/v1/completions',
        json({ prompt: '', max_tokens: 3, temperature: 0, logit_bias: { '32': -100 } }),
      ],
      [
        'stream with usage, logprobs, echo',
        '/v1/completions',
        json({
          model: 'tgi',
          prompt: ['Hello', 'a'],
          n: 2,
          max_tokens: 3,
          stream: true,
          stream_options: { include_usage: true },
          logprobs: 1,
          echo: true,
          seed: 9,
        }),
      ],
      ['stream, stop held back', '/v1/completions', json({ prompt: 'Hi there', max_tokens: 6, stream: true, temperature: 0, stop: ['e'] })],
      [
        'HF path, stream with TGI fields',
        '/models/edge-gpt2-brown/v1/completions',
        json({ model: 'x', prompt: 'Hello', max_tokens: 3, stream: true, seed: 3 }),
      ],
      ['HF hub path, not streamed', '/models/openai-community/gpt2/v1/completions', json({ prompt: 'Hello', max_tokens: 2, seed: 3 })],
      ['GET /v1/models', '/v1/models'],
      ['error: unknown model', '/v1/completions', json({ model: 'davinci', prompt: 'a' })],
      ['error: missing prompt', '/v1/completions', json({ model: 'gpt2' })],
      ['error: temperature', '/v1/completions', json({ prompt: 'a', temperature: 3 })],
      ['error: suffix', '/v1/completions', json({ prompt: 'a', suffix: 'b' })],
      ['error: token id out of range', '/v1/completions', json({ prompt: [999999], max_tokens: 1 })],
      ['error: logit_bias key', '/v1/completions', json({ prompt: 'a', logit_bias: { '999999': 1 } })],
      ['error: context length', '/v1/completions', json({ prompt: 'a '.repeat(60), max_tokens: 1 })],
      ['error: best_of with stream', '/v1/completions', json({ prompt: 'a', best_of: 2, stream: true })],
      ['error: unknown route', '/v1/nope'],
      ['error: bad JSON', '/v1/completions', json('[1,')],
    ]);
    await expect(text).toMatchFileSnapshot(file('openai'));
  });

  it('features', async () => {
    const { app } = makeApp({ provider: featureProvider() });
    const text = await record(app, [
      ['HF features, one string', '/pipeline/feature-extraction/edge-gpt2-brown', json({ inputs: 'Hello world' })],
      [
        'HF features, list, normalized',
        '/models/edge-gpt2-brown/pipeline/feature-extraction',
        json({ inputs: ['a', 'Hello'], normalize: true }),
      ],
      ['HF features, truncated', '/pipeline/feature-extraction/edge-gpt2-brown', json({ inputs: 'a '.repeat(60), truncate: true })],
      ['embeddings, float', '/v1/embeddings', json({ model: 'edge-gpt2-brown', input: ['Hello', 'a b'] })],
      ['embeddings, base64', '/v1/embeddings', json({ input: 'Hello', encoding_format: 'base64' })],
      ['embeddings, token ids', '/v1/embeddings', json({ input: [72, 101] })],
      ['error: empty', '/pipeline/feature-extraction/edge-gpt2-brown', json({ inputs: '' })],
      ['error: too long', '/pipeline/feature-extraction/edge-gpt2-brown', json({ inputs: 'a '.repeat(60) })],
      ['error: token id', '/v1/embeddings', json({ input: [[1], [999999]] })],
      ['error: dimensions', '/v1/embeddings', json({ input: 'a', dimensions: 3 })],
      ['error: unknown model', '/v1/embeddings', json({ input: 'a', model: 'nope' })],
    ]);
    const plain = await record(makeApp().app, [
      ['error: no hidden states (HF)', '/pipeline/feature-extraction/edge-gpt2-brown', json({ inputs: 'a' })],
      ['error: no hidden states (OpenAI)', '/v1/embeddings', json({ input: 'a' })],
    ]);
    await expect(text + plain).toMatchFileSnapshot(file('features'));
  });

  it('ops and auth', async () => {
    const cold = await record(makeApp({ provider: fakeProvider({ ready: false }) }).app, [
      ['info, not loaded', '/info'],
      ['health, not loaded', '/health'],
    ]);
    const { app } = makeApp();
    const text = await record(app, [
      ['info, loaded', '/info'],
      ['health', '/health'],
      ['tokenize', '/tokenize', json({ inputs: 'Hello world é!' })],
      ['error: tokenize empty', '/tokenize', json({ inputs: '' })],
    ]);
    const keyed = makeApp({ config: testConfig({ apiKeys: ['k1'] }) }).app;
    const auth = await record(keyed, [
      ['401 TGI', '/generate', json({ inputs: 'a' })],
      ['401 HF', '/models/edge-gpt2-brown', json({ inputs: 'a' })],
      ['401 OpenAI', '/v1/completions', json({ prompt: 'a' }, { authorization: 'Bearer wrong' })],
      ['401 features', '/pipeline/feature-extraction/edge-gpt2-brown', json({ inputs: 'a' })],
      ['401 embeddings', '/v1/embeddings', json({ input: 'a' })],
      ['401 bad header', '/generate', json({ inputs: 'a' }, { authorization: 'Basic abc' })],
    ]);
    await expect(cold + text + auth).toMatchFileSnapshot(file('ops'));
  });
});

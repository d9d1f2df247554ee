/** Load failures answer 503 with Retry-After in every dialect (issue 16: recovery paths). */
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../../worker/model/types.ts';
import { fakeProvider, json, makeApp, testConfig } from '../dialects/helpers.ts';

describe('load-failure 503s carry Retry-After', () => {
  it('the registry’s remaining back-off, rounded up, at least 1 s', async () => {
    const provider = fakeProvider({ ready: false });
    const { app } = makeApp({ provider });
    const models = provider;
    models.failWith = new ModelLoadError('blob_corrupt', 'blobs/abc fails its SHA-256 check; re-upload it', 4_200);
    const tgi = await app.request('/generate', json({ inputs: 'Hi', parameters: { max_new_tokens: 1 } }));
    expect(tgi.status).toBe(503);
    expect(tgi.headers.get('retry-after')).toBe('5');
    expect(await tgi.json()).toMatchObject({ error_type: 'model_load' });
    const oa = await app.request('/v1/completions', json({ prompt: 'Hi', max_tokens: 1 }));
    expect(oa.status).toBe(503);
    expect(oa.headers.get('retry-after')).toBe('5');
    expect((await oa.json()).error).toMatchObject({ type: 'server_error', code: 'blob_corrupt' });
    models.failWith = new ModelLoadError('manifest_missing', 'no manifest');
    const hf = await app.request('/models/edge-gpt2-brown', json({ inputs: 'Hi', options: { wait_for_model: true } }));
    expect(hf.status).toBe(503);
    expect(hf.headers.get('retry-after')).toBe('1');
  });
});

describe('OpenAI over-limit errors carry a code', () => {
  it.each([
    [{ prompt: 'Hi', max_tokens: 33 }, 'max_tokens', 'integer_above_max_value'],
    [{ prompt: 'Hi', n: 9 }, 'n', 'integer_above_max_value'],
    [{ prompt: 'Hi', temperature: 2.5 }, 'temperature', 'decimal_above_max_value'],
    [{ prompt: 'Hi', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', 'array_above_max_length'],
    [{ prompt: 'x '.repeat(60) }, 'max_input_tokens', 'context_length_exceeded'],
  ])('%j → %s %s', async (body, param, code) => {
    const res = await makeApp().app.request('/v1/completions', json(body));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', param, code });
  });
});

describe('X-Finish-Detail says which limit ended each sequence', () => {
  it('max_new_tokens, eos/stop, the CPU budget (HF max_time), per sequence', async () => {
    const { app } = makeApp();
    const tgi = await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 3 } }));
    expect(tgi.headers.get('x-finish-detail')).toBe('max_new_tokens');
    expect((await tgi.json()).generated_text).toBeTypeOf('string');
    const cpu = await app.request(
      '/models/edge-gpt2-brown',
      json({ inputs: 'Hello', parameters: { max_new_tokens: 30, max_time: 0.000001 } }),
    );
    expect(cpu.status).toBe(200);
    expect(cpu.headers.get('x-finish-detail')).toBe('cpu_budget');
    const oa = await app.request('/v1/completions', json({ prompt: ['Hi', 'Yo'], max_tokens: 2, n: 2, seed: 1 }));
    const body = await oa.json();
    expect(body.choices.map((c: { finish_reason: string }) => c.finish_reason)).toEqual(['length', 'length', 'length', 'length']);
    expect(oa.headers.get('x-finish-detail')).toBe('max_new_tokens, max_new_tokens, max_new_tokens, max_new_tokens');
    const stream = await app.request('/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 2 } }));
    expect(stream.headers.get('x-finish-detail')).toBeNull();
  });
});

describe('streams carry the finish detail on their final event (headers are gone by then)', () => {
  const lastData = async (res: Response) => {
    const data = (await res.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
      .map((e) => JSON.parse(e.slice(6)));
    return data;
  };
  it.each([
    ['max_new_tokens', 60_000],
    ['cpu_budget', 0.000001],
  ])('%s: TGI details, OpenAI finish chunk, HF stream details', async (detail, cpuBudgetMs) => {
    const { app } = makeApp({ config: testConfig({ cpuBudgetMs }) });
    const tgi = await lastData(
      await app.request('/generate_stream', json({ inputs: 'Hello', parameters: { max_new_tokens: 3, details: true } })),
    );
    expect(tgi.at(-1).details).toMatchObject({ finish_reason: 'length', finish_detail: detail });
    expect(tgi.slice(0, -1).every((e) => e.details === null)).toBe(true);
    const oa = await lastData(await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 3, stream: true })));
    const finishes = oa.flatMap((c) => c.choices).filter((c) => c.finish_reason !== null);
    expect(finishes).toEqual([expect.objectContaining({ finish_reason: 'length', finish_detail: detail })]);
    const hf = await lastData(
      await app.request(
        '/models/edge-gpt2-brown',
        json({ inputs: 'Hello', stream: true, parameters: { max_new_tokens: 3, details: true } }),
      ),
    );
    expect(hf.at(-1).details).toMatchObject({ finish_reason: 'length', finish_detail: detail });
  });
});

import { describe, expect, it } from 'vitest';
import { generate } from '../../../../worker/generation/index.ts';
import type { GenerationEvent } from '../../../../worker/generation/types.ts';
import { baseParams } from '../../../../worker/service/params.ts';
import { codePoints, tokenString } from '../../../../worker/dialects/openai/wire.ts';
import { collect } from '../../generation/fakes.ts';
import { fakeProvider, json, makeApp, parseSSE } from '../helpers.ts';

type Tok = Extract<GenerationEvent, { type: 'token' }>;

async function reference(prompt: string, over: Partial<ReturnType<typeof baseParams>>) {
  const p = fakeProvider();
  const events = await collect(generate(p.lm, p.tokenizer, p.tokenizer.encode(prompt), { ...baseParams(60_000), ...over }));
  return { tokens: events.filter((e): e is Tok => e.type === 'token'), done: events.filter((e) => e.type === 'done') };
}

describe('POST /v1/completions', () => {
  it('streams OpenAI chunks byte for byte: one per token, a finish chunk, usage, [DONE]', async () => {
    const { app } = makeApp();
    const res = await app.request(
      '/v1/completions',
      json({ model: 'edge-gpt2-brown', prompt: 'Hello', max_tokens: 3, seed: 11, stream: true, stream_options: { include_usage: true } }),
    );
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    const id = /"id":"(cmpl-[A-Za-z0-9]{24})"/.exec(text)![1]!;
    const created = Number(/"created":(\d+)/.exec(text)![1]);
    const ref = await reference('Hello', { maxNewTokens: 3, doSample: true, seed: 11 });
    const head = `{"id":"${id}","object":"text_completion","created":${created},"choices":`;
    const tail = `,"model":"edge-gpt2-brown","system_fingerprint":"fp_0000000000"`;
    const expected =
      ref.tokens
        .map(
          (t) =>
            `data: ${head}[{"text":${JSON.stringify(t.text)},"index":0,"logprobs":null,"finish_reason":null}]${tail},"usage":null}\n\n`,
        )
        .join('') +
      `data: ${head}[{"text":"","index":0,"logprobs":null,"finish_reason":"length","finish_detail":"max_new_tokens"}]${tail},"usage":null}\n\n` +
      `data: ${head}[]${tail},"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4}}\n\n` +
      'data: [DONE]\n\n';
    expect(text).toBe(expected);
  });

  it('without include_usage, chunks have no usage field', async () => {
    const { app } = makeApp();
    const { data } = parseSSE(await (await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 2, stream: true }))).text());
    expect(data.at(-1)).toBe('[DONE]');
    for (const d of data.slice(0, -1)) expect('usage' in JSON.parse(d)).toBe(false);
  });

  it('non-stream: shape, finish reasons mapped (eos/stop sequence → "stop"), usage', async () => {
    const { app } = makeApp();
    const ref = await reference('Hello', { maxNewTokens: 6 });
    const res = await (await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 6, temperature: 0 }))).json();
    expect(res).toMatchObject({
      object: 'text_completion',
      model: 'edge-gpt2-brown',
      choices: [
        {
          text: ref.done[0]!.type === 'done' ? ref.done[0]!.text : '',
          index: 0,
          logprobs: null,
          finish_reason: 'length',
          finish_detail: 'max_new_tokens',
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 6, total_tokens: 7 },
    });
    const stopAt = ref.tokens[2]!.text;
    const stopped = await (
      await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 6, temperature: 0, stop: stopAt }))
    ).json();
    expect(stopped.choices[0].finish_reason).toBe('stop');
    expect(stopped.choices[0].text).not.toContain(stopAt);
  });

  it('several prompts (strings or token ids) × n: indices prompt × n + k, prompt tokens counted once per prompt', async () => {
    const { app } = makeApp();
    const provider = fakeProvider();
    const ids = provider.tokenizer.encode('Hi there');
    const res = await (await app.request('/v1/completions', json({ prompt: [ids, ids], max_tokens: 2, n: 2, seed: 3 }))).json();
    expect(res.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2, 3]);
    expect(res.usage.prompt_tokens).toBe(2 * ids.length);
    const asText = await (await app.request('/v1/completions', json({ prompt: 'Hi there', max_tokens: 2, n: 2, seed: 3 }))).json();
    expect(asText.choices.map((c: { text: string }) => c.text)).toEqual(res.choices.slice(0, 2).map((c: { text: string }) => c.text));
    const echo = await (await app.request('/v1/completions', json({ prompt: ids, max_tokens: 1, echo: true }))).json();
    expect(echo.choices[0].text.startsWith('Hi there')).toBe(true);
  });

  it('best_of > n keeps the n most likely of best_of sequences', async () => {
    const { app } = makeApp();
    const all = await (await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 4, n: 4, seed: 8, logprobs: 0 }))).json();
    const best = await (await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 4, n: 1, best_of: 4, seed: 8 }))).json();
    const sum = (c: { logprobs: { token_logprobs: number[] } }) => c.logprobs.token_logprobs.reduce((a, b) => a + b, 0);
    const top = [...all.choices].sort((a, b) => sum(b) - sum(a))[0];
    expect(best.choices).toHaveLength(1);
    expect(best.choices[0].text).toBe(top.text);
    expect(best.usage.completion_tokens).toBe(16);
  });

  it('logit_bias bans a token; presence/frequency penalties are accepted and change sampling only when set', async () => {
    const { app } = makeApp();
    const plain = await (
      await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 5, temperature: 0, logprobs: 0 }))
    ).json();
    const firstTok = plain.choices[0].logprobs.tokens[0];
    const provider = fakeProvider();
    const firstId = provider.tokenizer.encode(firstTok)[0];
    const banned = await (
      await app.request(
        '/v1/completions',
        json({ prompt: 'Hello', max_tokens: 5, temperature: 0, logprobs: 0, logit_bias: { [firstId!]: -100 } }),
      )
    ).json();
    expect(banned.choices[0].logprobs.tokens[0]).not.toBe(firstTok);
    const bad = await app.request('/v1/completions', json({ prompt: 'Hello', logit_bias: { '999999': 5 } }));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.param).toBe('logit_bias');
  });

  it('validation errors name the parameter and the bound', async () => {
    const { app } = makeApp();
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ prompt: 'x', temperature: 2.5 }, 'temperature must be <= 2', 'temperature'],
      [{ prompt: 'x', max_tokens: 33 }, 'max_tokens must be <= 32 (MAX_NEW_TOKENS), got 33', 'max_tokens'],
      [{ prompt: 'x', logprobs: 6 }, 'logprobs must be <= 5', 'logprobs'],
      [{ prompt: 'x', n: 0 }, 'n must be >= 1', 'n'],
      [{ prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop must have at most 4 items', 'stop'],
      [{ prompt: 'x', stream_options: { include_usage: true } }, 'stream_options is only allowed when stream is true', 'stream_options'],
      [{ prompt: 'x', suffix: 'y' }, 'suffix is not supported by this server', 'suffix'],
      [{ prompt: 'x', best_of: 2, n: 3 }, 'best_of must be >= n (3)', 'best_of'],
      [{ model: 'x' }, 'prompt is required', 'prompt'],
      [{ prompt: [1, 'a'] }, 'prompt has the wrong type', 'prompt'],
      [{ prompt: [999999] }, 'prompt token id 999999 is out of range (vocabulary size 268)', 'prompt'],
      [
        { prompt: 'x'.repeat(40), max_tokens: 30 },
        'inputs + max_new_tokens (70) must be <= 64 (MAX_TOTAL_TOKENS): 40 input tokens + 30 new tokens',
        'max_total_tokens',
      ],
    ];
    for (const [body, message, param] of cases) {
      const res = await app.request('/v1/completions', json(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      const e = (await res.json()).error;
      expect(e.message, JSON.stringify(body)).toBe(message);
      expect(e.type).toBe('invalid_request_error');
      expect(e.param).toBe(param);
    }
  });
});

describe('/models/:id/v1/completions (for @huggingface/inference)', () => {
  it('stream chunks also carry TGI token / generated_text / details, the finish on the last token’s chunk', async () => {
    const { app } = makeApp();
    const { data } = parseSSE(
      await (
        await app.request('/models/edge-gpt2-brown/v1/completions', json({ prompt: 'Hello', max_tokens: 3, seed: 2, stream: true }))
      ).text(),
    );
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks).toHaveLength(3);
    const text = chunks.map((c) => c.choices[0].text).join('');
    expect(chunks.map((c) => c.token.text).join('')).toBe(text);
    expect(chunks[2].generated_text).toBe(text);
    expect(chunks[2].choices[0].finish_reason).toBe('length');
    expect(chunks[2].details).toEqual({ finish_reason: 'length', generated_tokens: 3, seed: 2, finish_detail: 'max_new_tokens' });
    expect(chunks[0].generated_text).toBeNull();
  });
  it('unknown model in the path is a 404 in OpenAI shape', async () => {
    const { app } = makeApp();
    const res = await app.request('/models/nope/v1/completions', json({ prompt: 'x' }));
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('model_not_found');
  });
});

describe('GET /v1/models', () => {
  it('lists the served models', async () => {
    const { app } = makeApp();
    expect(await (await app.request('/v1/models')).json()).toEqual({
      object: 'list',
      data: [{ id: 'edge-gpt2-brown', object: 'model', created: 0, owned_by: 'edge-gpt2' }],
    });
  });
});

describe('OpenAI wire helpers', () => {
  it('token strings: text when valid UTF-8, bytes:\\x.. otherwise; offsets in code points', () => {
    expect(tokenString(new TextEncoder().encode(' é'))).toBe(' é');
    expect(tokenString(Uint8Array.of(0xf0, 0x9f))).toBe('bytes:\\xf0\\x9f');
    expect(codePoints('a😀é')).toBe(3);
  });
});

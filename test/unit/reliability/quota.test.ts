/**
 * Per-key token quotas: the ledger (fixed minute/day windows, a charge that does not fit is refused
 * whole), and the app over a memory store (the Durable Object runs the same ledger; its workerd test
 * is test/workerd/quota.cases.ts): 429 + Retry-After + x-ratelimit-* in each dialect's shape, tokens
 * charged as they are produced, and N concurrent requests never spending more than the quota.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { charge, freshState, peek, refund } from '../../../worker/quota/ledger.ts';
import { parseQuotas } from '../../../worker/quota/config.ts';
import { memoryStore } from '../../../worker/quota/store.ts';
import { fakeProvider, json, makeApp, testConfig } from '../dialects/helpers.ts';

const sha = (k: string) => createHash('sha256').update(k).digest('hex');

describe('ledger', () => {
  it('refuses a charge that does not fit, whole; windows reset on the minute and the day', () => {
    const s = freshState();
    const l = { tokensPerMinute: 10, tokensPerDay: 25 };
    const t = 1_700_000_000_000 - (1_700_000_000_000 % 86_400_000) + 1_000; // 1 s into a UTC day
    expect(charge(s, l, 8, t)).toMatchObject({ ok: true, remaining: 2, limit: 10 });
    expect(charge(s, l, 3, t)).toMatchObject({ ok: false, remaining: 2, resetMs: 59_000 });
    expect(charge(s, l, 2, t)).toMatchObject({ ok: true, remaining: 0 });
    expect(peek(s, l, t)).toMatchObject({ ok: false, resetMs: 59_000 });
    expect(charge(s, l, 10, t + 60_000)).toMatchObject({ ok: true, remaining: 0 });
    // 20 spent today: the day window (5 left) is now the tight one, and refuses past the minute.
    expect(charge(s, l, 6, t + 120_000)).toMatchObject({ ok: false, remaining: 5, limit: 25, resetMs: 86_400_000 - 121_000 });
    refund(s, 4, t + 120_000);
    expect(s.dayUsed).toBe(16);
    expect(charge(s, l, 1, t + 86_400_000)).toMatchObject({ ok: true });
    expect(s.dayUsed).toBe(1);
  });

  it('API_KEY_QUOTAS: key hashes or "*", positive integers', () => {
    expect(parseQuotas(`{"${sha('k')}": {"tokens_per_minute": 5}, "*": {"tokens_per_day": 9}}`)).toEqual(
      new Map([
        [sha('k'), { tokensPerMinute: 5 }],
        ['*', { tokensPerDay: 9 }],
      ]),
    );
    expect(() => parseQuotas('{"my-key": {}}')).toThrow(/SHA-256/);
    expect(() => parseQuotas(`{"*": {"tokens_per_minute": 0}}`)).toThrow(/positive integer/);
    expect(() => parseQuotas('[')).toThrow(/JSON/);
    expect(parseQuotas(undefined).size).toBe(0);
  });
});

describe('quotas through the app', () => {
  const setup = (perMinute: number, keys = ['alpha', 'beta']) => {
    const store = memoryStore();
    const quotas = parseQuotas(JSON.stringify({ [sha('alpha')]: { tokens_per_minute: perMinute } }));
    const { app } = makeApp({
      provider: fakeProvider(),
      config: testConfig({ apiKeys: keys, limits: { maxNewTokens: 32, maxInputTokens: 48, maxTotalTokens: 64 } }),
      quota: { quotas, store },
    });
    const used = () => store.ledgers.get(sha('alpha'))?.minuteUsed ?? 0;
    return { app, used };
  };
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

  it('charges prompt + generated tokens, then 429 with Retry-After and x-ratelimit-* in each dialect', async () => {
    const { app, used } = setup(40);
    const r1 = await app.request('/v1/completions', json({ prompt: 'Hello', max_tokens: 10 }, bearer('alpha')));
    expect(r1.status).toBe(200);
    const u1 = (await r1.json()).usage;
    expect(used()).toBe(u1.total_tokens);
    expect(r1.headers.get('x-ratelimit-limit-tokens')).toBe('40');
    expect(Number(r1.headers.get('x-ratelimit-remaining-tokens'))).toBe(40 - u1.total_tokens);
    // The next one runs out mid-generation: it ends with finish "length", X-Finish-Detail "quota".
    const r2 = await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 32 } }, bearer('alpha')));
    expect(r2.status).toBe(200);
    expect(r2.headers.get('x-finish-detail')).toBe('quota');
    expect(used()).toBe(40);
    const tgi = await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 2 } }, bearer('alpha')));
    expect(tgi.status).toBe(429);
    expect(Number(tgi.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(tgi.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(await tgi.json()).toMatchObject({ error_type: 'rate_limited', error: expect.stringMatching(/token quota exceeded/) });
    const oa = await app.request('/v1/completions', json({ prompt: 'Hi', max_tokens: 1 }, bearer('alpha')));
    expect(oa.status).toBe(429);
    expect((await oa.json()).error).toMatchObject({ type: 'tokens', code: 'rate_limit_exceeded' });
    const hf = await app.request('/models/edge-gpt2-brown', json({ inputs: 'Hi' }, bearer('alpha')));
    expect(hf.status).toBe(429);
    // Another key is not metered; GETs are not charged.
    expect((await app.request('/generate', json({ inputs: 'Hello', parameters: { max_new_tokens: 2 } }, bearer('beta')))).status).toBe(200);
    expect((await app.request('/info', { headers: bearer('alpha') })).status).toBe(200);
  });

  it('a prompt bigger than what is left is a 429 before any work', async () => {
    const { app, used } = setup(5);
    const r = await app.request(
      '/generate',
      json({ inputs: 'Hello there, how are you', parameters: { max_new_tokens: 2 } }, bearer('alpha')),
    );
    expect(r.status).toBe(429);
    expect(used()).toBe(0);
  });

  it('N concurrent requests never spend more than the quota, and every charged token is reported', async () => {
    for (const [n, quota] of [
      [8, 100],
      [16, 157],
      [4, 1000],
    ] as const) {
      const { app, used } = setup(quota);
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          app.request(
            i % 2 ? '/v1/completions' : '/generate',
            json(
              i % 2
                ? { prompt: `Hi ${i}`, max_tokens: 30, n: 1 }
                : { inputs: `Hello ${i}`, parameters: { max_new_tokens: 30, details: true, decoder_input_details: true } },
              bearer('alpha'),
            ),
          ),
        ),
      );
      let reported = 0;
      for (const r of results) {
        if (r.status === 429) continue;
        expect(r.status).toBe(200);
        const b = await r.json();
        reported += b.usage ? b.usage.total_tokens : b.details.generated_tokens + b.details.prefill.length;
      }
      expect(used()).toBeLessThanOrEqual(quota);
      expect(reported).toBe(used());
    }
  });
});

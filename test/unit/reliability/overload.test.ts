/** Overload: past maxInFlight requests in one isolate, 503 + Retry-After at once instead of a queue. */
import { describe, expect, it } from 'vitest';
import { fakeProvider, json, makeApp } from '../dialects/helpers.ts';

describe('overload guard', () => {
  it('answers the request over the bound with 503 + Retry-After; slots come back when the handlers have answered', async () => {
    const provider = fakeProvider({ ready: false });
    let open!: () => void;
    provider.gate = new Promise<void>((r) => (open = r));
    const { app } = makeApp({ provider, maxInFlight: 2 });
    const body = { inputs: 'Hello', parameters: { max_new_tokens: 2 } };
    const held = [app.request('/generate', json(body)), app.request('/v1/completions', json({ prompt: 'Hi', max_tokens: 2 }))];
    await new Promise((r) => setTimeout(r, 10));
    const over = await app.request('/generate', json(body));
    expect(over.status).toBe(503);
    expect(over.headers.get('retry-after')).toBe('1');
    expect(await over.json()).toMatchObject({ error_type: 'overloaded' });
    const overOa = await app.request('/v1/completions', json({ prompt: 'Hi', max_tokens: 1 }));
    expect((await overOa.json()).error).toMatchObject({ type: 'server_error', code: 'server_overloaded' });
    expect((await app.request('/health')).status).toBe(200); // GETs are not counted
    open();
    provider.gate = null;
    for (const r of await Promise.all(held)) {
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    // Slots come back once the handlers have answered.
    const after = await Promise.all([app.request('/generate', json(body)), app.request('/generate_stream', json(body))]);
    expect(after.map((r) => r.status)).toEqual([200, 200]);
    await after[1]!.body!.cancel();
    expect((await app.request('/generate', json(body))).status).toBe(200);
  });
});

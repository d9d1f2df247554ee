/**
 * Non-streaming requests stop within one step after their client disconnects (issue 16: they ran to
 * the end). The disconnect arrives as an event (request.signal's abort) that the runtime can only
 * deliver between macrotasks; a forward pass awaits only microtasks, so the loop yields one event-loop
 * turn per step. Here the abort comes from a timer, as a disconnect would, and decode steps are counted.
 */
import { describe, expect, it } from 'vitest';
import { fakeProvider, json, makeApp, testConfig } from '../dialects/helpers.ts';

const ROUTES: [string, unknown][] = [
  ['/generate', { inputs: 'Hello', parameters: { max_new_tokens: 60 } }],
  ['/', { inputs: 'Hello', parameters: { max_new_tokens: 60 } }],
  ['/models/edge-gpt2-brown', { inputs: 'Hello', parameters: { max_new_tokens: 60 } }],
  ['/v1/completions', { prompt: 'Hello', max_tokens: 60 }],
];

describe('a non-streaming request stops within one step of its client disconnecting', () => {
  it.each(ROUTES)('%s', async (route, body) => {
    const ac = new AbortController();
    let steps = 0;
    let stepsAtAbort = -1;
    const { app } = makeApp({
      provider: fakeProvider(),
      config: testConfig({ limits: { maxNewTokens: 60, maxInputTokens: 2, maxTotalTokens: 64 } }),
      onStep: ({ step }) => {
        if (step === 0) return;
        steps++;
        // A disconnect is an I/O event: schedule it like one, not synchronously inside the loop.
        if (steps === 3) setTimeout(() => ((stepsAtAbort = steps), ac.abort()), 0);
      },
    });
    const res = await Promise.resolve(app.request(route, { ...json(body), signal: ac.signal })).catch((e: unknown) => e);
    expect(stepsAtAbort).toBeGreaterThanOrEqual(3);
    expect(steps - stepsAtAbort).toBeLessThanOrEqual(1);
    expect(steps).toBeLessThan(59);
    if (res instanceof Response) expect(res.status).toBe(499);
  });
});

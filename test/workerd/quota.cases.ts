/**
 * The KeyQuota Durable Object in workerd (wrangler.toml's KEY_QUOTA binding): exact accounting under
 * concurrency. N simulated requests of one key run at once, each charging as the generation loop
 * does (prompt + first token, then one token per step until its own length or a refusal); the DO's
 * count never passes the quota and equals what the requests were granted.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createMeter, QuotaExceeded } from '../../worker/quota/meter.ts';
import { durableObjectStore, type KeyQuotaNamespace } from '../../worker/quota/store.ts';
import type { KeyQuota } from '../../worker/quota/durable-object.ts';

export function quotaCases(): void {
  describe('KeyQuota Durable Object', () => {
    const ns = env.KEY_QUOTA as unknown as KeyQuotaNamespace;
    const store = durableObjectStore(ns);

    it.each([
      [16, 300, 5, 40],
      [32, 1000, 3, 60],
      [8, 37, 9, 10],
    ])('%i concurrent requests against %i tokens/day never overshoot', async (n, quota, prompt, maxNew) => {
      const keyId = `test-${n}-${quota}-${crypto.randomUUID()}`;
      const limits = { tokensPerDay: quota }; // a day window: a minute boundary mid-test would reset the count
      const granted = await Promise.all(
        Array.from({ length: n }, async () => {
          const meter = createMeter(store, keyId, limits, await store.peek(keyId, limits));
          try {
            if (!(await meter.admit(prompt + 1))) return 0;
          } catch (e) {
            expect(e).toBeInstanceOf(QuotaExceeded);
            return 0;
          }
          for (let step = 1; step < maxNew; step++) if (!(await meter.admit(1))) break;
          return meter.charged;
        }),
      );
      const stub = ns.get(ns.idFromName(keyId) as never) as unknown as DurableObjectStub<KeyQuota>;
      const usage = await stub.usage();
      const total = granted.reduce((a, b) => a + b, 0);
      expect(usage.day).toBe(total);
      expect(usage.day).toBeLessThanOrEqual(quota);
      // Everyone asked for more than there was: the quota is spent to within one request's first charge.
      if (n * (prompt + maxNew) > quota) expect(usage.day).toBeGreaterThan(quota - (prompt + 1));
    });
  });
}

/**
 * The per-request side of quotas: a Meter charges the key's ledger as tokens are produced. The
 * generation loop calls `admit(n)` before work that produces n tokens (the prompt plus the first
 * token of each sequence before the prefill, then each decode step's batch); the first refusal is a
 * 429 (QuotaExceeded), a later one ends the live sequences with finish_reason "length" and
 * X-Finish-Detail "quota". Nothing is produced uncharged, so a key never goes past its limit: N
 * concurrent requests of one key overshoot by nothing (the ledger refuses a charge that does not fit).
 *
 * The meter travels with the request in an AsyncLocalStorage (workerd: nodejs_compat), so the engine
 * finds it without every route passing it along.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ServiceError } from '../service/errors.ts';
import type { QuotaDecision, QuotaLimits } from './ledger.ts';
import type { QuotaStore } from './store.ts';

/** A service error (rate_limited), so http/errors.ts renders it: 429 + Retry-After + x-ratelimit-* in each dialect. */
export class QuotaExceeded extends ServiceError {
  override name = 'QuotaExceeded';
  constructor(
    readonly decision: QuotaDecision,
    readonly requested: number,
  ) {
    super(
      'rate_limited',
      `token quota exceeded: this key has ${decision.remaining} of ${decision.limit} tokens left in the current window ` +
        `and this request needs ${requested}; retry in ${Math.ceil(decision.resetMs / 1000)} s`,
      {
        reason: 'rate_limit_exceeded',
        retryAfterS: Math.max(1, Math.ceil(decision.resetMs / 1000)),
        quota: { limit: decision.limit, remaining: decision.remaining, resetMs: decision.resetMs },
      },
    );
  }
}

export interface Meter {
  admit(tokens: number): Promise<boolean>;
  /** The ledger's latest answer (for the x-ratelimit-* headers). */
  readonly last: QuotaDecision;
  /** Tokens charged by this request so far. */
  readonly charged: number;
}

export function createMeter(store: QuotaStore, keyId: string, limits: QuotaLimits, first: QuotaDecision): Meter {
  let last = first;
  let charged = 0;
  let calls = 0;
  return {
    get last() {
      return last;
    },
    get charged() {
      return charged;
    },
    async admit(tokens) {
      const d = await store.charge(keyId, limits, tokens);
      last = d;
      if (d.ok) {
        charged += tokens;
        calls++;
        return true;
      }
      if (calls++ === 0) throw new QuotaExceeded(d, tokens);
      return false;
    },
  };
}

const current = new AsyncLocalStorage<Meter>();

export function runWithMeter<T>(meter: Meter, fn: () => T): T {
  return current.run(meter, fn);
}

/** The admit function of the request being served, if its key is metered. */
export function currentAdmit(): ((tokens: number) => Promise<boolean>) | undefined {
  const m = current.getStore();
  return m ? (n) => m.admit(n) : undefined;
}

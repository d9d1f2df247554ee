/** Quotas from the Worker's env: API_KEY_QUOTAS (JSON var) over the KEY_QUOTA Durable Object binding. */
import { parseQuotas, QuotaConfigError } from './config.ts';
import type { QuotaOptions } from './middleware.ts';
import { durableObjectStore, type KeyQuotaNamespace } from './store.ts';

export interface QuotaEnv {
  /** JSON: {"<sha256 hex of a key>" | "*": {"tokens_per_minute"?: n, "tokens_per_day"?: n}}; unset = unmetered. */
  API_KEY_QUOTAS?: string;
  /** Durable Object namespace of KeyQuota (wrangler.toml [[durable_objects.bindings]]). */
  KEY_QUOTA?: KeyQuotaNamespace;
}

/** undefined when no quotas are configured; throws QuotaConfigError (a 500 naming it) when misconfigured. */
export function quotaFromEnv(env: QuotaEnv): QuotaOptions | undefined {
  const quotas = parseQuotas(env.API_KEY_QUOTAS);
  if (quotas.size === 0) return undefined;
  if (!env.KEY_QUOTA) throw new QuotaConfigError('API_KEY_QUOTAS is set but the KEY_QUOTA Durable Object binding is missing');
  return { quotas, store: durableObjectStore(env.KEY_QUOTA) };
}

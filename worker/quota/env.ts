/** Quotas for the Worker: API_KEY_QUOTAS (parsed by config.ts) over the KEY_QUOTA Durable Object binding. */
import { QuotaConfigError, type QuotaConfig } from './config.ts';
import type { QuotaOptions } from './middleware.ts';
import { durableObjectStore, type KeyQuotaNamespace } from './store.ts';

/** undefined when no quotas are configured; throws QuotaConfigError (a 500 naming it) when the binding is missing. */
export function quotaFromEnv(quotas: QuotaConfig | undefined, namespace: KeyQuotaNamespace | undefined): QuotaOptions | undefined {
  if (!quotas || quotas.size === 0) return undefined;
  if (!namespace) throw new QuotaConfigError('API_KEY_QUOTAS is set but the KEY_QUOTA Durable Object binding is missing');
  return { quotas, store: durableObjectStore(namespace) };
}

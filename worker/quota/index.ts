export { parseQuotas, keyId, QuotaConfigError, type QuotaConfig } from './config.ts';
export { charge, peek, refund, freshState, type LedgerState, type QuotaDecision, type QuotaLimits } from './ledger.ts';
export { QuotaExceeded, createMeter, currentAdmit, rateLimitHeaders, runWithMeter, type Meter } from './meter.ts';
export { quotaMiddleware, type QuotaOptions } from './middleware.ts';
export { durableObjectStore, memoryStore, type QuotaStore } from './store.ts';

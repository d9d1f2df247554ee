/**
 * Where ledgers live: a Durable Object per key in the Worker (`durableObjectStore`), a Map in tests
 * (`memoryStore`, same ledger code). Keys are identified by the hex SHA-256 of the key.
 */
import { charge, freshState, peek, refund, type LedgerState, type QuotaDecision, type QuotaLimits } from './ledger.ts';

export interface QuotaStore {
  charge(keyId: string, limits: QuotaLimits, tokens: number): Promise<QuotaDecision>;
  refund(keyId: string, tokens: number): Promise<void>;
  peek(keyId: string, limits: QuotaLimits): Promise<QuotaDecision>;
}

/** The part of the KeyQuota stub the store uses (structural: Node code can typecheck this file). */
interface KeyQuotaStub {
  charge(limits: QuotaLimits, tokens: number): Promise<QuotaDecision>;
  refund(tokens: number): Promise<void>;
  peek(limits: QuotaLimits): Promise<QuotaDecision>;
}

export interface KeyQuotaNamespace {
  idFromName(name: string): unknown;
  get(id: never): unknown;
}

export function durableObjectStore(ns: KeyQuotaNamespace): QuotaStore {
  const stub = (keyId: string) => ns.get(ns.idFromName(keyId) as never) as KeyQuotaStub;
  return {
    charge: (keyId, limits, tokens) => stub(keyId).charge(limits, tokens),
    refund: (keyId, tokens) => stub(keyId).refund(tokens),
    peek: (keyId, limits) => stub(keyId).peek(limits),
  };
}

export function memoryStore(now: () => number = () => Date.now()): QuotaStore & { ledgers: Map<string, LedgerState> } {
  const ledgers = new Map<string, LedgerState>();
  const get = (k: string) => {
    let s = ledgers.get(k);
    if (!s) ledgers.set(k, (s = freshState()));
    return s;
  };
  return {
    ledgers,
    charge: async (k, l, t) => charge(get(k), l, t, now()),
    refund: async (k, t) => refund(get(k), t, now()),
    peek: async (k, l) => peek(get(k), l, now()),
  };
}

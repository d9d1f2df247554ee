/**
 * API_KEY_QUOTAS: a JSON var mapping a key's id to its limits, e.g.
 *   {"<sha256 hex of the key>": {"tokens_per_minute": 10000, "tokens_per_day": 1000000}, "*": {...}}
 * Keys are named by their SHA-256, never in clear (vars are visible to anyone who can read the
 * Worker's settings; the keys themselves stay in the API_KEYS secret). "*" applies to every key
 * without an entry of its own. A key with no entry and no "*" is unmetered.
 */
import type { QuotaLimits } from './ledger.ts';

export type QuotaConfig = ReadonlyMap<string, QuotaLimits>;

export class QuotaConfigError extends Error {
  override name = 'QuotaConfigError';
}

export function parseQuotas(json: string | undefined): QuotaConfig {
  const out = new Map<string, QuotaLimits>();
  if (json === undefined || json.trim() === '') return out;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new QuotaConfigError('API_KEY_QUOTAS is not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new QuotaConfigError('API_KEY_QUOTAS must be a JSON object');
  for (const [id, v] of Object.entries(raw)) {
    if (id !== '*' && !/^[0-9a-f]{64}$/.test(id))
      throw new QuotaConfigError(`API_KEY_QUOTAS key "${id.slice(0, 20)}" must be "*" or a key's SHA-256 in hex`);
    const limits: QuotaLimits = {};
    const entry = (v ?? {}) as Record<string, unknown>;
    for (const [field, name] of [
      ['tokens_per_minute', 'tokensPerMinute'],
      ['tokens_per_day', 'tokensPerDay'],
    ] as const) {
      const n = entry[field];
      if (n === undefined) continue;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
        throw new QuotaConfigError(`API_KEY_QUOTAS["${id.slice(0, 12)}…"].${field} must be a positive integer`);
      limits[name] = n;
    }
    out.set(id, limits);
  }
  return out;
}

export async function keyId(key: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

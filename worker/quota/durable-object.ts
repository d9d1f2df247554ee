/**
 * KeyQuota: one Durable Object per API key (idFromName of the key's SHA-256), so every isolate in
 * every location counts against the same strongly consistent ledger. Calls are RPC methods; the DO
 * runs them one at a time, so concurrent requests of one key cannot both spend the last tokens.
 * The state is one small record, persisted on every change (the output gate holds the answer until
 * the write is durable).
 */
import { DurableObject } from 'cloudflare:workers';
import { charge, freshState, peek, refund, type LedgerState, type QuotaDecision, type QuotaLimits } from './ledger.ts';

const KEY = 'ledger';

export class KeyQuota extends DurableObject {
  private state: LedgerState | undefined;

  private async load(): Promise<LedgerState> {
    this.state ??= (await this.ctx.storage.get<LedgerState>(KEY)) ?? freshState();
    return this.state;
  }

  async charge(limits: QuotaLimits, tokens: number): Promise<QuotaDecision> {
    const s = await this.load();
    const d = charge(s, limits, tokens, Date.now());
    if (d.ok) await this.ctx.storage.put(KEY, s);
    return d;
  }

  async refund(tokens: number): Promise<void> {
    const s = await this.load();
    refund(s, tokens, Date.now());
    await this.ctx.storage.put(KEY, s);
  }

  async peek(limits: QuotaLimits): Promise<QuotaDecision> {
    return peek(await this.load(), limits, Date.now());
  }

  /** Tokens charged in the current minute and day windows (tests, operators). */
  async usage(): Promise<{ minute: number; day: number }> {
    const s = await this.load();
    return { minute: s.minuteUsed, day: s.dayUsed };
  }
}

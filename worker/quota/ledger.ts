/**
 * Token accounting for one API key: fixed UTC windows of a minute and a day (as OpenAI's
 * x-ratelimit-reset-* describe them), charged before work is done. A charge that would take either
 * window past its limit is refused whole, so `used` never exceeds a limit; a refusal says when the
 * window that refused it resets (Retry-After). Tokens reserved but not produced (a sequence ended
 * early) are refunded. Pure: the Durable Object and the tests' memory store both run this.
 */

export interface QuotaLimits {
  tokensPerMinute?: number;
  tokensPerDay?: number;
}

export interface LedgerState {
  minuteStart: number;
  minuteUsed: number;
  dayStart: number;
  dayUsed: number;
}

export interface QuotaDecision {
  ok: boolean;
  /** Tokens left in the tightest window after this decision. */
  remaining: number;
  /** The tightest window's limit. */
  limit: number;
  /** ms until the tightest (or, when refused, the refusing) window resets. */
  resetMs: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

export function freshState(): LedgerState {
  return { minuteStart: 0, minuteUsed: 0, dayStart: 0, dayUsed: 0 };
}

function roll(s: LedgerState, now: number): void {
  const m = now - (now % MINUTE);
  if (s.minuteStart !== m) {
    s.minuteStart = m;
    s.minuteUsed = 0;
  }
  const d = now - (now % DAY);
  if (s.dayStart !== d) {
    s.dayStart = d;
    s.dayUsed = 0;
  }
}

function windows(s: LedgerState, l: QuotaLimits, now: number) {
  const out: { limit: number; used: number; resetMs: number }[] = [];
  if (l.tokensPerMinute !== undefined) out.push({ limit: l.tokensPerMinute, used: s.minuteUsed, resetMs: s.minuteStart + MINUTE - now });
  if (l.tokensPerDay !== undefined) out.push({ limit: l.tokensPerDay, used: s.dayUsed, resetMs: s.dayStart + DAY - now });
  return out;
}

function decision(ok: boolean, s: LedgerState, l: QuotaLimits, now: number, refusedBy?: { resetMs: number }): QuotaDecision {
  const ws = windows(s, l, now);
  if (ws.length === 0) return { ok, remaining: Number.MAX_SAFE_INTEGER, limit: Number.MAX_SAFE_INTEGER, resetMs: 0 };
  const tight = ws.reduce((a, b) => (b.limit - b.used < a.limit - a.used ? b : a));
  return { ok, remaining: Math.max(0, tight.limit - tight.used), limit: tight.limit, resetMs: refusedBy?.resetMs ?? tight.resetMs };
}

/** Charges `tokens` when every window has room for all of them; otherwise charges nothing. */
export function charge(s: LedgerState, l: QuotaLimits, tokens: number, now: number): QuotaDecision {
  roll(s, now);
  const over = windows(s, l, now).filter((w) => w.used + tokens > w.limit);
  if (over.length > 0) {
    // Retry when the longest-blocking window resets (a day window over its limit outlasts the minute).
    return decision(
      false,
      s,
      l,
      now,
      over.reduce((a, b) => (b.resetMs > a.resetMs ? b : a)),
    );
  }
  s.minuteUsed += tokens;
  s.dayUsed += tokens;
  return decision(true, s, l, now);
}

/** Gives back tokens reserved in the current windows but not produced. */
export function refund(s: LedgerState, tokens: number, now: number): void {
  roll(s, now);
  s.minuteUsed = Math.max(0, s.minuteUsed - tokens);
  s.dayUsed = Math.max(0, s.dayUsed - tokens);
}

/** Where the key stands, charging nothing (`ok` = at least one token left). */
export function peek(s: LedgerState, l: QuotaLimits, now: number): QuotaDecision {
  roll(s, now);
  const d = decision(true, s, l, now);
  if (d.remaining > 0) return d;
  const blocking = windows(s, l, now).filter((w) => w.used >= w.limit);
  return decision(
    false,
    s,
    l,
    now,
    blocking.reduce((a, b) => (b.resetMs > a.resetMs ? b : a)),
  );
}

/**
 * OpenAI legacy completions wire shapes (openai v6 `Completion`, `CompletionChoice`, `CompletionUsage`).
 * Pure: meta + generation events in, JSON objects out.
 *
 * logprobs: `{tokens, token_logprobs, top_logprobs, text_offset}`, one entry per token (prompt tokens
 * first with echo; the first prompt token has null logprob and null top_logprobs). Token strings are
 * the token's own bytes as UTF-8, or OpenAI's `bytes:\xNN` form when they are part of a character.
 * text_offset counts code points (Python `len`, as OpenAI's servers do) from the start of the prompt,
 * also without echo (the first completion token's offset is the prompt's length).
 */
import type { FinishReason, TokenLogprob } from '../../service/types.ts';

export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
  systemFingerprint: string;
}

export interface OpenAiLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

export type OpenAiFinish = 'stop' | 'length';

/** generation's 'eos_token' and 'stop_sequence' are both OpenAI "stop". */
export function openAiFinish(reason: FinishReason): OpenAiFinish {
  return reason === 'length' ? 'length' : 'stop';
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The token as OpenAI shows it: its text, or `bytes:\xe2\x80` when it is not valid UTF-8 alone. */
export function tokenString(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    return 'bytes:' + Array.from(bytes, (b) => '\\x' + b.toString(16).padStart(2, '0')).join('');
  }
}

/** Code points, as Python's len(). */
export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff || i + 1 >= s.length) n++;
    else {
      const d = s.charCodeAt(i + 1);
      n++;
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Accumulates one choice's logprobs; `drain()` hands out what was added since (stream chunks). */
export function createLogprobs(tokenBytes: (id: number) => Uint8Array) {
  const acc: OpenAiLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let drained = 0;
  const top = (alts: readonly TokenLogprob[] | undefined, chosen: { id: number; logprob: number }): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const a of [...(alts ?? []), chosen]) {
      const key = tokenString(tokenBytes(a.id));
      const lp = finite(a.logprob) ?? -9999;
      if (!(key in out) || out[key]! < lp) out[key] = lp;
    }
    return out;
  };
  return {
    /** A prompt token; `offset` in code points. The first prompt token has no logprob (null). */
    add(t: { id: number; logprob: number | null; top?: readonly TokenLogprob[] }, offset: number): void {
      acc.tokens.push(tokenString(tokenBytes(t.id)));
      acc.token_logprobs.push(t.logprob === null ? null : finite(t.logprob));
      acc.top_logprobs.push(t.logprob === null ? null : top(t.top, { id: t.id, logprob: t.logprob }));
      acc.text_offset.push(offset);
    },
    all(): OpenAiLogprobs {
      return acc;
    },
    drain(): OpenAiLogprobs {
      const out = {
        tokens: acc.tokens.slice(drained),
        token_logprobs: acc.token_logprobs.slice(drained),
        top_logprobs: acc.top_logprobs.slice(drained),
        text_offset: acc.text_offset.slice(drained),
      };
      drained = acc.tokens.length;
      return out;
    },
  };
}

export interface ChoiceOut {
  text: string;
  index: number;
  logprobs: OpenAiLogprobs | null;
  finish_reason: OpenAiFinish | null;
  /** Ours, set with finish_reason: which limit ended the choice (http/finish-detail.ts). */
  finish_detail?: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export function completion(meta: CompletionMeta, choices: ChoiceOut[], u: Usage) {
  return {
    id: meta.id,
    object: 'text_completion' as const,
    created: meta.created,
    model: meta.model,
    choices,
    usage: u,
    system_fingerprint: meta.systemFingerprint,
  };
}

/** A stream chunk: `usage` is present (null until the final chunk) only when include_usage was asked. */
export function chunk(meta: CompletionMeta, choices: ChoiceOut[], withUsage: boolean, u: Usage | null = null) {
  return {
    id: meta.id,
    object: 'text_completion' as const,
    created: meta.created,
    choices,
    model: meta.model,
    system_fingerprint: meta.systemFingerprint,
    ...(withUsage ? { usage: u } : {}),
  };
}

/** `cmpl-` + 24 random base62 characters. */
export function completionId(): string {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const r = crypto.getRandomValues(new Uint8Array(24));
  return 'cmpl-' + Array.from(r, (b) => abc[b % 62]).join('');
}

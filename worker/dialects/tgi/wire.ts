/**
 * Text Generation Inference wire shapes (router/src/lib.rs: GenerateResponse, Details, StreamResponse,
 * StreamDetails, Token, PrefillToken). Pure functions over generation events.
 *
 * Stream: one `data:` event per token, `{"index","token","top_tokens"?,"generated_text":null,"details":null}`,
 * `index` counting from 1; the *last token's* event carries `generated_text` and (when `details` was asked)
 * `details {finish_reason, generated_tokens, seed, input_length}`. No `[DONE]` terminator.
 * Because the last event must carry a token, the encoder holds back only the final token (generation marks
 * it `final`) until its `done` event, which the generator yields within the same step: no token is late.
 */
import { jsonMessage, type SSEMessage } from '../../http/sse-encode.ts';
import { cumulativeLogprob, type DoneEvent } from '../../service/collect.ts';
import { finishDetail } from '../../service/finish-detail.ts';
import type { CollectedGeneration, SequenceResult, TokenEvent, TokenLogprob } from '../../service/types.ts';

export interface TgiToken {
  id: number;
  text: string;
  logprob: number | null;
  special: boolean;
}

export interface TgiWireOptions {
  /** The seed to report: TGI reports it only when sampling (null when greedy). */
  seed: number | null;
  /** Put `details` on the final event / response. */
  details: boolean;
  /** Prepended to generated_text (return_full_text). */
  prefix: string;
  inputLength: number;
  isSpecial(id: number): boolean;
  /** Give each event an SSE `id` (the token index): the GET/EventSource variant, see tgi/routes.ts. */
  eventIds?: boolean;
}

/** JSON has no NaN/Infinity: a -Infinity logprob (a banned token) becomes null like serde's f32 NaN. */
const lp = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : x);

function tgiToken(t: TokenEvent): TgiToken {
  return { id: t.id, text: t.text, logprob: lp(t.logprob), special: t.special };
}

function topTokens(top: readonly TokenLogprob[] | undefined, isSpecial: (id: number) => boolean): TgiToken[] {
  return (top ?? []).map((a) => ({ id: a.id, text: a.text, logprob: lp(a.logprob), special: isSpecial(a.id) }));
}

/** Streaming encoder for one sequence: push events in, get SSE messages out. */
export function createTgiStreamEncoder(opts: TgiWireOptions) {
  let held: TokenEvent | undefined;
  let index = 0;
  const event = (t: TokenEvent, final: DoneEvent | null): SSEMessage => {
    index += 1;
    const body: Record<string, unknown> = { index, token: tgiToken(t) };
    if (t.top && t.top.length > 0) body.top_tokens = topTokens(t.top, opts.isSpecial);
    body.generated_text = final ? opts.prefix + final.text : null;
    // finish_detail (ours, after TGI's fields): which limit ended the sequence, see http/finish-detail.ts.
    body.details =
      final && opts.details
        ? {
            finish_reason: final.finishReason,
            generated_tokens: final.generatedTokens,
            seed: opts.seed,
            input_length: opts.inputLength,
            finish_detail: finishDetail(final),
          }
        : null;
    const msg = jsonMessage(body);
    return opts.eventIds ? { ...msg, id: String(index) } : msg;
  };
  return {
    // TGI puts the last token and the finish into one event: only a final token waits for its done
    // (which the generator yields within the same step), every other token goes out at once.
    token(t: TokenEvent): SSEMessage[] {
      const out = held ? [event(held, null)] : [];
      held = t.final ? t : undefined;
      return t.final ? out : [...out, event(t, null)];
    },
    done(d: DoneEvent): SSEMessage[] {
      if (!held) return []; // max_new_tokens >= 1 on TGI routes: a done always follows a token
      const out = [event(held, d)];
      held = undefined;
      return out;
    },
  };
}

export interface TgiDetailsOptions extends TgiWireOptions {
  decoderInputDetails: boolean;
  /** TGI best_of: the highest cumulative logprob wins, the others go to best_of_sequences. */
  bestOf: boolean;
}

function details(seq: SequenceResult, gen: CollectedGeneration, opts: TgiDetailsOptions) {
  const prefill =
    opts.decoderInputDetails && gen.prompt ? gen.prompt.tokens.map((t) => ({ id: t.id, text: t.text, logprob: lp(t.logprob) })) : [];
  const body: Record<string, unknown> = {
    finish_reason: seq.done.finishReason,
    generated_tokens: seq.done.generatedTokens,
    seed: opts.seed,
    prefill,
    tokens: seq.tokens.map(tgiToken),
  };
  if (seq.tokens.some((t) => t.top && t.top.length > 0)) {
    body.top_tokens = seq.tokens.map((t) => topTokens(t.top, opts.isSpecial));
  }
  body.finish_detail = finishDetail(seq.done);
  return body;
}

/** One sequence's GenerateResponse, or the best of several when best_of > 1. */
export function tgiGenerateResponse(gen: CollectedGeneration, opts: TgiDetailsOptions): Record<string, unknown> {
  const ranked = opts.bestOf ? [...gen.sequences].sort((a, b) => cumulativeLogprob(b) - cumulativeLogprob(a)) : gen.sequences;
  const best = ranked[0];
  if (!best) throw new Error('generation produced no sequence');
  const body: Record<string, unknown> = { generated_text: opts.prefix + best.done.text };
  if (opts.details) {
    const { top_tokens: bestTop, finish_detail, ...d } = details(best, gen, opts);
    if (opts.bestOf && ranked.length > 1) {
      d.best_of_sequences = ranked.slice(1).map((s) => {
        const { finish_reason, generated_tokens, seed, prefill, tokens, top_tokens, finish_detail } = details(s, gen, opts);
        return {
          generated_text: opts.prefix + s.done.text,
          finish_reason,
          generated_tokens,
          seed,
          prefill,
          tokens,
          ...(top_tokens ? { top_tokens } : {}),
          finish_detail,
        };
      });
    }
    // TGI's field order: …, tokens, best_of_sequences, top_tokens; then ours, finish_detail.
    body.details = { ...d, ...(bestTop ? { top_tokens: bestTop } : {}), finish_detail };
  }
  return body;
}

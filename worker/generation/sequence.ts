/**
 * One sequence of a request: its RNG stream, generated ids, penalty counts, detokenizer and stop
 * matcher. `pick` chooses the next token from a logits row; `append` records it and returns its text.
 *
 * Logprobs: reported for the distribution after penalties and logit_bias, before temperature and
 * truncation (top_k/top_p/typical_p). That is what OpenAI's API reports (logit_bias shifts the
 * returned logprobs — the basis of the known logprob-extraction attacks — while temperature does not),
 * and vLLM's default (`logprobs_mode`) ignores the sampling warpers too. TGI instead reports the warped
 * distribution, which gives -Infinity for truncated alternatives (not even valid JSON) and makes
 * greedy and sampled requests incomparable; we don't copy that.
 */
import { Utf8Detokenizer } from './detokenize.ts';
import { expSum, topAlternatives } from './logits.ts';
import { applyLogitBias, applyPresenceFrequency, applyRepetitionPenalty } from './processors.ts';
import type { Rng } from './rng.ts';
import { drawsAsIs, sampleToken } from './sample.ts';
import { StopSequences } from './stopping.ts';
import { createCandidates, type Candidates } from './truncation.ts';
import type { FinishReason, GenerationParams, LengthLimit, TextTokenizer, TokenLogprob } from './types.ts';

export interface Pick {
  id: number;
  logprob: number;
  top?: TokenLogprob[];
}

/** Per-generation scratch shared by its sequences (they are processed one at a time). */
export interface Workspace {
  adjusted: Float32Array; // [vocab] logits after penalties and bias
  warped: Float32Array; // [vocab] the same after temperature (sampling only)
  candidates: Candidates;
}

export function createWorkspace(vocabSize: number): Workspace {
  return {
    adjusted: new Float32Array(vocabSize),
    warped: new Float32Array(vocabSize),
    candidates: createCandidates(vocabSize),
  };
}

export class Sequence {
  readonly ids: number[] = [];
  finishReason: FinishReason | null = null;
  /** Set with finishReason 'length': which limit it was. */
  limit: LengthLimit | null = null;
  private readonly seen: Set<number>;
  private readonly counts = new Map<number, number>();
  private readonly detok = new Utf8Detokenizer();
  private readonly stops: StopSequences;

  constructor(
    readonly index: number,
    private readonly params: GenerationParams,
    private readonly tokenizer: TextTokenizer,
    private readonly rng: Rng,
    promptIds: readonly number[],
  ) {
    this.seen = new Set(promptIds);
    this.stops = new StopSequences(params.stop);
  }

  get finished(): boolean {
    return this.finishReason !== null;
  }

  /** The generated text so far (stop string removed). */
  get text(): string {
    return this.stops.fullText;
  }

  get lastId(): number {
    const id = this.ids[this.ids.length - 1];
    if (id === undefined) throw new Error('sequence has no tokens yet');
    return id;
  }

  /**
   * Processors → logprob → sample. `logits` is the model's row; it is copied into the workspace
   * because penalties differ per sequence and temperature rescales the row in place.
   */
  pick(logits: Float32Array, ws: Workspace): Pick {
    const p = this.params;
    const adjusted = ws.adjusted;
    adjusted.set(logits);
    applyRepetitionPenalty(adjusted, this.seen, p.repetitionPenalty);
    applyPresenceFrequency(adjusted, this.counts, p.presencePenalty, p.frequencyPenalty);
    applyLogitBias(adjusted, p.logitBias);
    const rescales = p.doSample && p.temperature > 0 && p.temperature !== 1;
    // One pass of exp for the logprob and, when the row is sampled as it is (no warper), for the draw.
    const asIs = drawsAsIs(p);
    const sums = expSum(adjusted, asIs ? ws.candidates.weight : undefined);
    const lse = sums.lse;
    const top =
      p.topLogprobs > 0
        ? topAlternatives(adjusted, p.topLogprobs, lse).map((t) => ({ ...t, text: this.tokenizer.decode([t.id]) }))
        : undefined;
    // Draw even when greedy: one draw per token keeps the stream's position a function of the step.
    const u = this.rng.nextFloat();
    if (rescales) ws.warped.set(adjusted);
    const id = sampleToken(rescales ? ws.warped : adjusted, p, u, ws.candidates, asIs ? sums : undefined);
    return { id, logprob: adjusted[id]! - lse, ...(top ? { top } : {}) };
  }

  /**
   * Records the token and returns its text delta. Ends the sequence on EOS, a stop string, or
   * `maxNewTokens`; `contextLeft` is false when the context window has no room to feed this token.
   */
  append(id: number, contextLeft: boolean): string {
    this.ids.push(id);
    this.seen.add(id);
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);

    if (this.params.stopOnEos && id === this.tokenizer.eosTokenId) return this.end('eos_token');
    // Special tokens are control symbols, not text (HF `skip_special_tokens`, TGI's generated_text).
    let delta = '';
    if (!this.tokenizer.isSpecial(id)) {
      const { emit, stopped } = this.stops.push(this.detok.push(this.tokenizer.tokenBytes(id)));
      delta = emit;
      if (stopped) {
        this.finishReason = 'stop_sequence';
        return delta;
      }
    }
    if (this.ids.length >= this.params.maxNewTokens) return delta + this.end('length', 'max_new_tokens');
    if (!contextLeft) return delta + this.end('length', 'context');
    return delta;
  }

  /** Ends the sequence (if still running) and returns the text it was holding back. */
  end(reason: FinishReason, limit?: LengthLimit): string {
    if (this.finished) return '';
    // A flushed U+FFFD can still complete a stop string: then that is the reason.
    const { emit, stopped } = this.stops.push(this.detok.flush());
    this.finishReason = stopped ? 'stop_sequence' : reason;
    if (!stopped && reason === 'length') this.limit = limit ?? 'max_new_tokens';
    return emit + (stopped ? '' : this.stops.flush());
  }
}

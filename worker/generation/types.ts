/**
 * Contracts of the generation core. Nothing here knows Hono, onnxruntime-web or `cloudflare:*`:
 * worker/model implements CausalLM and TextTokenizer; worker/service runs generation and the dialects encode GenerationEvent.
 */

export interface LMConfig {
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  eosTokenId: number;
  bosTokenId: number;
}

/** Opaque per-request key/value cache. Rows are sequences; every row has the same length. */
export interface KVCache {
  readonly batch: number;
  /** Tokens already in the cache (the `past` length). */
  readonly length: number;
}

export interface ForwardRequest {
  /** [batch][seq] token ids appended after `cache`; every row has the same length. */
  inputIds: readonly (readonly number[])[];
  cache: KVCache | null;
  /** Which positions of this call get logits: the last one (decode) or every one (prompt scoring). */
  logitsFor: 'last' | 'all';
  /** Also return the final hidden states (after ln_f) of every position. */
  hidden?: boolean;
  /**
   * Positions the returned cache is expected to reach (prompt + max new tokens): a hint that lets a model
   * reserve its cache once instead of growing (and copying) it as decoding goes. Never a limit.
   */
  capacity?: number;
  /**
   * Rows this sequence will be tiled to by selectRows (num_return_sequences) after a prefill from no
   * cache: a batching model reserves cache for them up front. Never a limit.
   */
  reserveRows?: number;
}

export interface ForwardResult {
  /** Row-major [batch, positions, vocabSize]; positions is 1 for 'last', seq for 'all'. */
  logits: Float32Array;
  positions: number;
  /**
   * The cache extended by this call's tokens. The input cache now belongs to the model (it frees or
   * reuses it); the caller must not use or release it again.
   */
  cache: KVCache;
  /** [batch, seq, nEmbd] when asked for. */
  hidden?: Float32Array;
  /**
   * ms of compute charged to this request when it shared its step with others (its rows' share of the
   * step's time); absent when it ran alone. 0 where the clock does not advance during compute.
   */
  costMs?: number;
}

export interface CausalLM {
  readonly config: LMConfig;
  forward(req: ForwardRequest): Promise<ForwardResult>;
  /** A cache whose rows are `rows` of `cache`, in that order (repeats allowed: [0,0,0] tiles a prefill). */
  selectRows(cache: KVCache, rows: readonly number[]): KVCache;
  /** Frees the cache's memory now rather than at GC. Safe to call twice. */
  release(cache: KVCache): void;
}

/**
 * A CausalLM that can run one step for several requests at once, each with its own cache (continuous
 * batching; generation/scheduler.ts drives it). Rows never influence each other: every request's result
 * is bit-identical to what forward() gives it alone.
 */
export interface BatchedCausalLM extends CausalLM {
  /** Requests with caches of their own; all feed the same number of positions and ask for the same logits. */
  forwardBatch(reqs: readonly ForwardRequest[]): Promise<ForwardResult[]>;
  /**
   * forwardBatch that fails only the requests concerned (a staged model whose stage refuses one request's
   * cache runs the others); a rejection of the whole promise still fails every request. Optional: without
   * it, a failure of forwardBatch is every request's.
   */
  forwardBatchSettled?(reqs: readonly ForwardRequest[]): Promise<PromiseSettledResult<ForwardResult>[]>;
  /** Bytes a live cache of this model holds (its reserved capacity). */
  cacheBytes(cache: KVCache): number;
  /** Bytes a new cache of `rows` rows reserved for `positions` positions will hold (admission). */
  reserveBytes(rows: number, positions: number): number;
}

export interface TextTokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** The raw bytes a token stands for (byte-level BPE: may be part of a UTF-8 character). */
  tokenBytes(id: number): Uint8Array;
  isSpecial(id: number): boolean;
  /** The longest tokenBytes(id) over the vocabulary (bounds the bytes a prompt of N tokens can have); computed when absent. */
  readonly maxTokenBytes?: number;
}

/** Normalized, validated parameters: every dialect maps its own request onto this. */
export interface GenerationParams {
  maxNewTokens: number;
  /** false = greedy (argmax); the sampling fields below are then ignored except penalties and bias. */
  doSample: boolean;
  temperature: number;
  topK: number; // 0 = off
  topP: number; // 1 = off
  typicalP: number; // 1 = off
  repetitionPenalty: number; // 1 = off (HF/CTRL style: divides positive logits, multiplies negative)
  presencePenalty: number; // 0 = off (OpenAI style, subtracted once per seen token)
  frequencyPenalty: number; // 0 = off (OpenAI style, subtracted per occurrence)
  logitBias: ReadonlyMap<number, number>;
  /** Seed of the request's RNG; sequence i of num_return_sequences uses a stream derived from (seed, i). */
  seed: number;
  stop: readonly string[];
  /** Stop at EOS (true for every dialect; false only for benchmarks). */
  stopOnEos: boolean;
  numSequences: number;
  /** Top-k alternatives with logprobs per generated token (0 = none). */
  topLogprobs: number;
  /** Score the prompt too (echo + logprobs, decoder_input_details). */
  promptLogprobs: boolean;
  /** Wall/CPU budget for this request in ms; generation ends with finish_reason 'length' when spent. */
  cpuBudgetMs: number;
}

export type FinishReason = 'length' | 'eos_token' | 'stop_sequence';

/** Which limit ended a sequence with finish reason 'length' (the dialects' enums cannot say). */
export type LengthLimit = 'max_new_tokens' | 'context' | 'cpu_budget' | 'quota';

export interface TokenLogprob {
  id: number;
  text: string;
  logprob: number;
}

export type GenerationEvent =
  /** Prompt tokens with their logprobs (null for the first token), when promptLogprobs is set. */
  | { type: 'prompt'; tokens: (Omit<TokenLogprob, 'logprob'> & { logprob: number | null; top?: TokenLogprob[] })[] }
  /** One generated token; `text` is a valid UTF-8 delta (may be '' while a character is incomplete). */
  | {
      type: 'token';
      sequence: number;
      index: number;
      id: number;
      text: string;
      logprob: number;
      special: boolean;
      /** This token ends its sequence: the sequence's `done` event follows within the same step. */
      final: boolean;
      top?: TokenLogprob[];
    }
  /** A sequence ended. `text` is the whole generated text (stop sequence removed). */
  | { type: 'done'; sequence: number; finishReason: FinishReason; generatedTokens: number; text: string; limit?: LengthLimit };

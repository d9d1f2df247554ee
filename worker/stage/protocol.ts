/**
 * The gateway ↔ stage RPC contract. A stage is one Worker script (worker/stage/index.ts) whose Durable
 * Object holds one part of a host-attention model (worker/model/host-parts.ts): a range of layers with
 * the KV caches of the sequences it serves, and/or the tied embedding (the "ends": embedding lookup on the
 * way in, ln_f'd hidden → logits on the way out).
 *
 * Per forward step the gateway (worker/model/staged-lm.ts) sends the next segment's input ([rows, n_embd]
 * twice) through the layer stages in order, then calls the ends stage's `head` when a stage holds the ends
 * (by default the gateway holds them: it embeds and scores itself). The stages pass a step on themselves
 * (a chained step, `next`: stage k calls stage k+1 through its NEXT_STAGE binding, and the last stage's
 * answer comes back the same way), so a step is one call from the gateway; without NEXT_STAGE bindings the
 * gateway calls each stage in turn. A step carries the groups of
 * every request the gateway's scheduler merged into it (one RPC per stage per step, whatever the number of
 * requests); admission is per group, and a group a stage cannot run is answered in `refused` while the
 * others run. Every answer is a value, never a thrown error: codes survive the RPC boundary, messages are
 * safe to show.
 *
 * Sequences are named by the gateway (`seq`: a cache handle). `ops` carry the contract's synchronous
 * selectRows / release calls: the gateway queues them per stage and ships them with its next call to that
 * stage, which applies them in order before anything else (calls on one stub arrive in order).
 */

export type StageOp = { op: 'select'; from: string; to: string; rows: number[] } | { op: 'release'; seq: string };

/** One sequence's rows in a step: its name, rows, positions already cached, expected final length. */
export interface StageGroup {
  seq: string;
  B: number;
  P: number;
  /** Expected final length of the sequence (prompt + new tokens): the cache is reserved once, and admitted against the budget. */
  capacity?: number;
}

/**
 * One step of one or more sequences (continuous batching: the gateway's scheduler merges the decode steps
 * of concurrent requests). Every group feeds the same T new positions; the rows of all groups, in group
 * order (ΣB rows), go through the part's layers as one batch, attention runs per group over its own cache.
 */
export interface StageStepRequest {
  ops: StageOp[];
  groups: StageGroup[];
  /** New positions of every row. */
  T: number;
  /** Token ids [ΣB][T]: only to the stage that embeds (ends + layer 0). */
  ids?: number[][];
  /** The part's input (manifest.ts: the next segment's hidden_in / attn_in), [ΣB, T, n_embd]. */
  hidden?: Float32Array;
  attn?: Float32Array | null;
  /** Logits positions per row when this stage also runs the head (the ends stage holding the last layer). */
  positions?: number;
  /**
   * The first layer this step's input feeds: the stage checks it is its own, so a chain wired out of order
   * (a NEXT_STAGE binding to the wrong script) fails loudly instead of running the wrong layers.
   */
  first?: number;
  /**
   * A chained step: once its own part ran, the stage passes its output on to the next stage (NEXT_STAGE),
   * with `next[0]` as that stage's ops and the rest of `next` for the stages after it; `next.length` stages
   * follow. The answer is the last one's, with every stage's refusals (indices into this request's groups).
   */
  next?: StageOp[][];
}

/** A group this stage did not run (admission refused it, or it does not hold its sequence); the others ran. */
export interface StageRefusal {
  /** Index into the request's `groups`. */
  group: number;
  failure: StageFailure;
}

/**
 * The rows of the groups that ran, in group order (a refused group's rows are left out): the next part's
 * input, or `last` (after ln_f) with logits when this stage also ran the head. A refused group is dropped on
 * this stage; the gateway drops it from the rest of the step and releases it everywhere.
 */
export type StageStepResult = (
  { kind: 'state'; hidden: Float32Array; attn: Float32Array | null } | { kind: 'last'; last: Float32Array; logits?: Float32Array }
) & { refused?: StageRefusal[] };

export interface StageHeadRequest {
  ops: StageOp[];
  /** [B, T, n_embd] after ln_f. */
  last: Float32Array;
  B: number;
  T: number;
  positions: number;
}

/** What a stage holds and what it can still admit. */
export interface StageInfo {
  stage: number;
  model: string;
  /** [first, end) or null (ends only). */
  layers: [number, number] | null;
  ends: boolean;
  /** The stage can pass a step on to the next one (it has a NEXT_STAGE binding). */
  next: boolean;
  budget: StageBudget;
  /** KV bytes resident now, and how many sequences (cache handles) hold them. */
  residentBytes: number;
  sequences: number;
  /**
   * Step calls that ran this part so far, with their rows and groups in all (rows / steps: the mean batch),
   * and how many of them it passed on to the next stage (chained steps).
   */
  steps: { calls: number; rows: number; groups: number; maxRows: number; passed: number };
  /** WASM memories: ORT's heap and our kernels' memory (bytes; they never shrink). */
  wasm: { ort: number; kernels: number };
}

/** The byte budget of one stage isolate (worker/stage/budget.ts). */
export interface StageBudget {
  limitBytes: number;
  weightsBytes: number;
  runtimeBytes: number;
  activationBytes: number;
  jsBytes: number;
  /** What is left for resident KV caches. */
  kvBudgetBytes: number;
  /** KV bytes per row per position in this stage's layers. */
  kvBytesPerToken: number;
}

type StageErrorCode =
  /** The stage could not load its part (the load error's code is in `loadCode`). */
  | 'load_failed'
  /** Admitting this sequence would exceed the stage's memory budget: retry later. */
  | 'overloaded'
  /** The stage does not hold this sequence (it was reset, or the gateway is out of step). */
  | 'unknown_sequence'
  | 'bad_request'
  /** The next stage of a chained step did not answer (its isolate was reset, the connection dropped). */
  | 'unreachable'
  | 'internal';

export interface StageFailure {
  ok: false;
  code: StageErrorCode;
  message: string;
  /** load_failed: the ModelLoadError code (blob_corrupt, blob_missing, …). */
  loadCode?: string;
  /** overloaded: seconds after which a retry may be admitted. */
  retryAfter?: number;
  /** In a chained step, the stage that failed, in hops after the one called (absent: the one called). */
  at?: number;
}

export type StageAnswer<T> = { ok: true; value: T; residentBytes: number } | StageFailure;

/** The RPC surface of a stage, as the gateway sees it (a Durable Object stub, or an in-process object in tests). */
export interface StageClient {
  load(): Promise<StageAnswer<StageInfo>>;
  step(req: StageStepRequest): Promise<StageAnswer<StageStepResult>>;
  head(req: StageHeadRequest): Promise<StageAnswer<Float32Array>>;
  apply(ops: StageOp[]): Promise<StageAnswer<null>>;
  stats(): Promise<StageAnswer<StageInfo>>;
}

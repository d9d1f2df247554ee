/**
 * StepScheduler: continuous batching for one model instance. It is a CausalLM over a BatchedCausalLM, so
 * the generation loop (generate.ts) does not change: every request runs its own loop (sampling, stops,
 * budget, events) and calls forward() once per step; the scheduler merges the decode steps of all
 * requests that are waiting into one forwardBatch, which reads the weights once for every row.
 *
 *   queue      forward() calls not yet run, in arrival order. A decode step (1 new position, logits of the
 *              last) can share a step with other decode steps; anything else (a prefill chunk, prompt
 *              scoring, feature extraction) runs alone.
 *   step       the oldest decode steps up to `maxBatchRows` rows (the rest wait for the next step, first in
 *              line), or one prefill chunk. When both wait, prefill and decode steps alternate, so running
 *              streams keep flowing while a new prompt goes in chunk by chunk, and a new request waits at
 *              most one step to start.
 *   gather     a request answered by the last step needs a moment to sample, emit its token and come back
 *              with its next step. Before each step the scheduler waits, for at most `gatherTurns` turns of
 *              the event loop, until every sequence it answered is back (or released); without this the
 *              batch would split into two that alternate. A slow consumer delays the others by those few
 *              turns at most, never by a step.
 *   driving    there is no loop of the scheduler's own: every forward() call drives until its job is done.
 *              A caller whose job is queued and finds no step running waits out the gather and runs the
 *              next step itself, for whichever jobs are first in line (its own or not); callers that find a
 *              step running wait for it to end and try again. On Workers every await belongs to the request
 *              that made it, and a request's timers and I/O die with it: a loop owned by the first request
 *              would stop (and hang everyone queued) when that request ends. Here each step runs on behalf
 *              of a request that is still waiting for a result.
 *   admission  a new sequence reserves the KV bytes it will reach (rows × capacity, reserveBytes) against
 *              `kvBudgetBytes`; over it the forward() throws CapacityError (503 + Retry-After upstream). A
 *              sequence alone is always admitted, so one request can use the whole budget's worth.
 *   leaving    a sequence that finishes, fails or is cancelled releases its cache at once (generate's
 *              finally): its reservation and its place in the next step are freed.
 *   lanes      how many steps may be in flight at once (default 1). A model whose work is spread over
 *              isolates that run in parallel (the stage pipeline: worker/model/staged-lm.ts) overlaps them:
 *              step A in stage 2 while step B is in stage 1. With L lanes a decode step takes at most
 *              ceil(R / L) of the R decode rows queued or in flight, so the streams settle into L cohorts
 *              that follow each other through the stages; one lane batches every stream into one step.
 *
 * A row's result does not depend on the other rows in its step (BatchedCausalLM's contract), so a seeded
 * request gives the same tokens alone or batched. A failure of a shared step fails every request in it (it
 * is the model's failure, not one request's), except where the model settles requests one by one
 * (forwardBatchSettled: a stage that refuses one sequence for lack of room); requests are validated before
 * they are queued, so one bad request never reaches a shared step.
 */
import { CapacityError } from './errors.ts';
import type { BatchedCausalLM, CausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig } from './types.ts';

export interface SchedulerOptions {
  /** Rows one decode step may hold (weights are read once per step; activations grow with rows). */
  maxBatchRows?: number;
  /** KV cache bytes all resident sequences may reserve together (Infinity: no bound). */
  kvBudgetBytes?: number;
  /** Event-loop turns to wait for answered sequences to come back before a step. */
  gatherTurns?: number;
  /** Seconds a refused request is told to wait. */
  retryAfterS?: number;
  /** Steps that may be in flight at once (see "lanes" in the header). */
  lanes?: number;
  /** Clock for each request's share of a step's time (default performance.now). */
  now?: () => number;
}

/** What the scheduler has done so far (tests, benchmarks and logs). */
export interface SchedulerStats {
  steps: number;
  /** Rows over all steps: rows / steps is the mean batch. */
  rows: number;
  maxRows: number;
  /** Sequences refused by admission. */
  refused: number;
  /** KV bytes reserved now. */
  reservedBytes: number;
  /** Sequences with a live cache. */
  sequences: number;
}

interface Job {
  req: ForwardRequest;
  rows: number;
  decode: boolean;
  lineage: Lineage;
  /** Set by the step that ran it. */
  outcome?: { ok: true; result: ForwardResult } | { ok: false; error: unknown };
}

/** One sequence and the caches descended from it (selectRows); its reservation lives until the last is released. */
class Lineage {
  live = 0;
  constructor(readonly reserved: number) {}
}

const DEFAULTS = { maxBatchRows: 16, kvBudgetBytes: Infinity, gatherTurns: 4, retryAfterS: 1, lanes: 1 };

/** One macrotask turn (setImmediate where there is one: Node clamps setTimeout(0) to 1 ms). */
function nextTurn(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(() => resolve()) : setTimeout(resolve, 0)));
}

export class StepScheduler implements CausalLM {
  readonly config: LMConfig;
  private readonly opts: Required<SchedulerOptions>;
  private queue: Job[] = [];
  /** The steps in progress (each run by one of the waiting callers), with their decode rows; at most `lanes`. */
  private readonly stepping = new Map<Promise<void>, number>();
  private lastWasPrefill = false;
  /** Caches handed to callers and not yet passed back or released, with their sequence. */
  private readonly live = new Map<KVCache, Lineage>();
  /** Live caches answered by the last step that have not come back yet (the gather waits for them). */
  private readonly away = new Set<KVCache>();
  private reserved = 0;
  private readonly counters = { steps: 0, rows: 0, maxRows: 0, refused: 0 };

  constructor(
    readonly inner: BatchedCausalLM,
    opts: SchedulerOptions = {},
  ) {
    this.config = inner.config;
    this.opts = { ...DEFAULTS, now: () => performance.now(), ...opts };
    if (!(this.opts.maxBatchRows >= 1)) throw new RangeError('maxBatchRows must be at least 1');
    if (!Number.isInteger(this.opts.lanes) || this.opts.lanes < 1) throw new RangeError('lanes must be an integer of at least 1');
  }

  /** Steps run so far (all requests): lets tests and logs observe that compute stopped. */
  get steps(): number {
    return this.counters.steps;
  }

  get stats(): SchedulerStats {
    return { ...this.counters, reservedBytes: this.reserved, sequences: this.live.size };
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const rows = checkShape(req, this.config);
    let lineage: Lineage;
    if (req.cache) {
      const l = this.live.get(req.cache);
      if (!l) throw new Error('KV cache used after release (a forward() consumes its input cache), or not of this model');
      lineage = l;
      this.untrack(req.cache, false); // consumed: the step's result replaces it
    } else {
      lineage = this.admit(rows, req);
    }
    const decode = (req.inputIds[0]?.length ?? 0) === 1 && req.logitsFor === 'last' && !req.hidden;
    const job: Job = { req, rows, decode, lineage };
    this.queue.push(job);
    await this.drive(job);
    const outcome = job.outcome!;
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    const lineage = this.live.get(cache);
    if (!lineage) throw new Error('KV cache used after release, or not of this model');
    const out = this.inner.selectRows(cache, rows);
    if (out !== cache) this.track(out, lineage, this.away.has(cache));
    return out;
  }

  release(cache: KVCache): void {
    if (this.live.has(cache)) this.untrack(cache, true);
    this.inner.release(cache);
  }

  /** Reserves a new sequence's KV bytes, or refuses it. */
  private admit(rows: number, req: ForwardRequest): Lineage {
    const T = req.inputIds[0]?.length ?? 0;
    const want = Math.max(rows, req.reserveRows ?? rows);
    const bytes = this.inner.reserveBytes(want, Math.min(this.config.nPositions, Math.max(T, req.capacity ?? T)));
    if (this.reserved > 0 && this.reserved + bytes > this.opts.kvBudgetBytes) {
      this.counters.refused++;
      throw new CapacityError(
        `no room for another sequence: ${mib(this.reserved)} of ${mib(this.opts.kvBudgetBytes)} MiB of KV cache is reserved by ` +
          `${this.live.size + this.queue.length} in progress, this one needs ${mib(bytes)} MiB`,
        this.opts.retryAfterS,
      );
    }
    this.reserved += bytes;
    return new Lineage(bytes);
  }

  private track(cache: KVCache, lineage: Lineage, away: boolean): void {
    this.live.set(cache, lineage);
    lineage.live++;
    if (away) this.away.add(cache);
  }

  private untrack(cache: KVCache, released: boolean): void {
    const lineage = this.live.get(cache)!;
    this.live.delete(cache);
    this.away.delete(cache);
    lineage.live--;
    if (released && lineage.live === 0 && !this.queue.some((j) => j.lineage === lineage)) this.reserved -= lineage.reserved;
  }

  /** Frees a lineage whose step failed (its input cache was consumed, no result came back). */
  private drop(lineage: Lineage): void {
    if (lineage.live === 0 && !this.queue.some((j) => j.lineage === lineage)) this.reserved -= lineage.reserved;
  }

  /** Runs steps (see "driving" in the header) until `job` has its outcome. */
  private async drive(job: Job): Promise<void> {
    let turns = 0;
    while (!job.outcome) {
      if (this.stepping.size >= this.opts.lanes || this.queue.length === 0) {
        // Every lane busy, or our job is in a step someone else runs: wait for the oldest step to end. Only
        // ever a step's own promise: workerd lets a request await a promise of another request's making, but
        // a promise made here and resolved from another request (a waiter list) is taken for a hung request,
        // and Promise.race over the steps would be settled again by the steps that lose it, from their
        // requests' contexts, perhaps after this request has ended.
        const oldest = this.stepping.keys().next().value;
        // Not queued and in no step, yet no outcome: a step ended without settling it. Awaiting nothing
        // here would spin on microtasks forever (the isolate at 100 % CPU), so fail the request instead.
        if (!oldest) throw new Error('the scheduler lost this request (a step ended without answering it)');
        await oldest;
        turns = 0;
        continue;
      }
      // One turn first, so requests that arrive together start together; then the gather.
      if (turns === 0 || (this.away.size > 0 && turns <= this.opts.gatherTurns)) {
        turns++;
        await nextTurn();
        continue;
      }
      this.away.clear(); // late ones are not waited for again until a step answers them
      const jobs = this.take();
      const decodeRows = jobs[0]!.decode ? jobs.reduce((n, j) => n + j.rows, 0) : 0;
      const step = this.step(jobs).finally(() => this.stepping.delete(step));
      this.stepping.set(step, decodeRows);
      await step;
      turns = 0;
    }
  }

  /** The next step's jobs (removed from the queue): see the header. */
  private take(): Job[] {
    const prefill = this.queue.find((j) => !j.decode);
    const hasDecode = this.queue.some((j) => j.decode);
    if (prefill && (!hasDecode || !this.lastWasPrefill)) {
      this.lastWasPrefill = true;
      this.queue.splice(this.queue.indexOf(prefill), 1);
      return [prefill];
    }
    this.lastWasPrefill = false;
    let cap = this.opts.maxBatchRows;
    if (this.opts.lanes > 1) {
      let rows = 0;
      for (const n of this.stepping.values()) rows += n;
      for (const j of this.queue) if (j.decode) rows += j.rows;
      cap = Math.min(cap, Math.ceil(rows / this.opts.lanes));
    }
    const jobs: Job[] = [];
    let rows = 0;
    for (const j of this.queue) {
      if (!j.decode) continue;
      if (jobs.length > 0 && rows + j.rows > cap) break;
      jobs.push(j);
      rows += j.rows;
    }
    this.queue = this.queue.filter((j) => !jobs.includes(j));
    return jobs;
  }

  private async step(jobs: Job[]): Promise<void> {
    const rows = jobs.reduce((n, j) => n + j.rows, 0);
    this.counters.steps++;
    this.counters.rows += rows;
    this.counters.maxRows = Math.max(this.counters.maxRows, rows);
    const t0 = this.opts.now();
    let results: PromiseSettledResult<ForwardResult>[];
    try {
      // A model that can refuse one request of a step (a stage at capacity) settles each request alone.
      const reqs = jobs.map((j) => j.req);
      results = this.inner.forwardBatchSettled
        ? await this.inner.forwardBatchSettled(reqs)
        : (await this.inner.forwardBatch(reqs)).map((value) => ({ status: 'fulfilled' as const, value }));
    } catch (err) {
      for (const j of jobs) {
        j.outcome = { ok: false, error: err };
        this.drop(j.lineage);
      }
      return;
    }
    const elapsed = this.opts.now() - t0;
    for (const [i, j] of jobs.entries()) {
      const r = results[i]!;
      if (r.status === 'rejected') {
        j.outcome = { ok: false, error: r.reason };
        this.drop(j.lineage);
        continue;
      }
      this.track(r.value.cache, j.lineage, true);
      // Each request is charged its rows' share of the step (a frozen clock reads 0: the meter then charges its estimate).
      j.outcome = { ok: true, result: { ...r.value, costMs: (elapsed * j.rows) / rows } };
    }
  }
}

/** The contract's shape checks, per request, before it is queued (so a bad request never fails a shared step). */
function checkShape(req: ForwardRequest, config: LMConfig): number {
  const B = req.inputIds.length;
  const T = req.inputIds[0]?.length ?? 0;
  if (B === 0 || T === 0) throw new RangeError('forward() needs at least one row of at least one token');
  if (req.inputIds.some((row) => row.length !== T)) throw new RangeError('every row of inputIds must have the same length');
  const V = config.vocabSize;
  if (req.inputIds.some((row) => row.some((id) => !Number.isInteger(id) || id < 0 || id >= V))) {
    throw new RangeError(`token ids must be integers in [0, ${V})`);
  }
  if (req.cache && req.cache.batch !== B) throw new RangeError(`cache has ${req.cache.batch} rows, inputIds has ${B}`);
  const P = req.cache?.length ?? 0;
  if (P + T > config.nPositions) throw new RangeError(`${P + T} positions exceed the model's context of ${config.nPositions}`);
  return B;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

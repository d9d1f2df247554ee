/**
 * StagedCausalLM: the CausalLM contract over a pipeline of stage isolates (worker/stage), for models too big
 * for one Worker isolate. The gateway keeps tokenizer, generation and routes; per forward step it calls
 * the stages in layer order with the next segment's input (hidden + attention output, [rows, n_embd] each),
 * then runs the LM head for the logits. The tied embedding (lookup on the way in, head on the way out) is
 * held once, in one of two places:
 * - the gateway (when no stage holds it: `npm run stages`' default where it fits, GPT-2 small to large):
 *   only hidden states cross isolates, n_embd floats per row each way per stage, and a step is one call
 *   per stage. The logits (vocab_size floats per row, 200 KB for GPT-2) never leave the gateway's isolate,
 *   which matters most in production, where the gateway runs near the user and the stages in one place.
 * - stage 0 (`--ends stage`), with its first layers: the gateway holds no weights, but every step calls
 *   stage 0 twice (embed + its layers, then the head) and its logits come back over the wire.
 *
 * The contract's selectRows and release are synchronous: they name a new cache (or drop one) at once and
 * queue an op per stage, shipped with the next call to that stage (releases alone: a flush right after),
 * which applies it before anything else. A stage failure ends the forward with a StageError (coded, safe to show) and
 * drops the sequence on every stage; other sequences are unaffected.
 *
 * It is a BatchedCausalLM (continuous batching behind generation/scheduler.ts): a step of several requests is
 * one call per stage, one group per request; a group a stage refuses fails only its own request
 * (forwardBatchSettled). Admission is the stages' (each meters its own isolate): see loadStagedModel.
 *
 * Hops (`hops`): by default the stages pass a step on themselves (chained: stage k calls stage k+1 through
 * its NEXT_STAGE binding), so a step is one call from the gateway, one round trip between the gateway and
 * the stages' location in production instead of one per stage. With `hops: 'gateway'` (or stages without
 * NEXT_STAGE) the gateway calls each stage in turn.
 *
 * Several steps may be in flight at once (the scheduler's lanes): while one step is in stage 2, the next
 * is in stage 1, so stages on different machines work at the same time. Two calls may reach a stage in
 * either order, yet a select must reach a stage before the step of the sequence it names:
 * - chained, a select travels with the step of the sequence it creates (opsFor);
 * - gateway hops, calls to one stage go one at a time, in the order their steps reach it (a lock per
 *   stage, taken before the call's queued ops are drained).
 */
import { StepScheduler, type SchedulerOptions } from '../generation/scheduler.ts';
import type { BatchedCausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig } from '../generation/types.ts';
import { STAGE_CHUNK, HEAD_ROWS } from '../stage/budget.ts';
import type { StageAnswer, StageClient, StageFailure, StageGroup, StageInfo, StageOp, StageStepRequest } from '../stage/protocol.ts';
import { blockCapacity, HostEnds } from './host-parts.ts';
import { loadHostPart } from './load-model.ts';
import type { OrtRuntime } from './ort.ts';
import { fetchBlobs, fetchManifest, type LoaderOptions } from './loader.ts';
import { Mutex } from './mutex.ts';
import { checkBatch, lmConfig, ownCache } from './lm-contract.ts';
import type { Manifest } from './manifest.ts';
import { createTokenizer } from './tokenizer.ts';
import { ModelLoadError, type BlobSource, type LoadedModel, type ModelLoadErrorCode } from './types.ts';

/** A stage failed or refused mid-request. `code` is the stage's (overloaded, unknown_sequence, …) or `stage_failed`. */
export class StageError extends Error {
  override name = 'StageError';
  constructor(
    readonly code: string,
    message: string,
    /** overloaded: seconds after which a retry may be admitted. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

class StagedCache implements KVCache {
  released = false;
  constructor(
    readonly seq: string,
    readonly batch: number,
    readonly length: number,
    /** Positions the stages' blocks of this sequence have room for (they size them as the gateway predicts here). */
    readonly capacity: number,
  ) {}
}

export interface Stage {
  client: StageClient;
  info: StageInfo;
}

/** How a step gets through the stages: passed on from stage to stage, or one call from the gateway to each. */
export type StageHops = 'chain' | 'gateway';

/**
 * Stages one gateway call goes through at most: Workers let one request chain at most 32 invocations (the
 * gateway's own included); a longer pipeline is called in runs of this many.
 */
const CHAIN_STAGES = 30;

/**
 * The ops of one stage's queue that may go with a call whose step holds the sequences `seqs`, when calls
 * may reach a stage in either order (chained steps): a select goes with the step of the sequence it
 * creates (or with that sequence's release, when no step used it); any other op goes unless it names a
 * sequence of a select held back (a source must outlive its select). The rest stay queued, in order.
 */
export function opsFor(queue: readonly StageOp[], seqs: ReadonlySet<string>): { send: StageOp[]; keep: StageOp[] } {
  const released = new Set(queue.flatMap((o) => (o.op === 'release' ? [o.seq] : [])));
  const held = new Set<string>();
  const send: StageOp[] = [];
  const keep: StageOp[] = [];
  for (const o of queue) {
    const go = o.op === 'select' ? (seqs.has(o.to) || released.has(o.to)) && !held.has(o.from) : !held.has(o.seq);
    if (go) send.push(o);
    else {
      keep.push(o);
      if (o.op === 'select') held.add(o.from).add(o.to);
    }
  }
  return { send, keep };
}

let nextSeq = 0;
let prefix: string | undefined;
/** A sequence name unique across gateway isolates (several may drive the same stages); random on first use (not at module scope: Workers forbid it there). */
function newSeq(): string {
  prefix ??= crypto.randomUUID().slice(0, 8);
  return `${prefix}-${++nextSeq}`;
}

/** One request of a step on its way through the stages. */
interface Group extends StageGroup {
  /** Index of the request in the step. */
  index: number;
  /** Its block's capacity once this chunk ran (what the stages reserve, predicted). */
  cap: number;
}

export class StagedCausalLM implements BatchedCausalLM {
  readonly config: LMConfig;
  private readonly pending: StageOp[][];
  /** Gateway hops: one call at a time per stage, in the order steps reach it (see the header). */
  private readonly locks: Mutex[];
  private flushQueued = false;
  /** KV bytes per row per position over all stages. */
  private readonly kvBytesPerToken: number;
  /** Steps run so far, whatever the number of requests in each (tests and logs). */
  steps = 0;

  /**
   * `stages` in call order: the ends stage first (it embeds), then the others by first layer. `ends`: the
   * embedding and head in this isolate, when no stage holds them. `hops`: chained needs every stage but the
   * last to have a NEXT_STAGE binding to the one after it (loadStagedModel checks).
   */
  constructor(
    manifest: Manifest,
    private readonly stages: readonly Stage[],
    private readonly log: (line: string) => void = console.log,
    private readonly ends?: HostEnds,
    readonly hops: StageHops = 'gateway',
  ) {
    const c = manifest.config;
    this.config = lmConfig(c);
    this.pending = stages.map(() => []);
    this.locks = stages.map(() => new Mutex());
    this.kvBytesPerToken = stages.reduce((n, s) => n + s.info.budget.kvBytesPerToken, 0);
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const [r] = await this.forwardBatchSettled([req]);
    if (r!.status === 'rejected') throw r!.reason;
    return r!.value;
  }

  /**
   * The scheduler's contract (a failure fails the step): a step where some request failed releases the
   * others' results and throws the first failure. forwardBatchSettled fails only the requests concerned.
   */
  async forwardBatch(reqs: readonly ForwardRequest[]): Promise<ForwardResult[]> {
    const settled = await this.forwardBatchSettled(reqs);
    const failed = settled.find((s) => s.status === 'rejected');
    if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<ForwardResult>).value);
    for (const s of settled) if (s.status === 'fulfilled') this.release(s.value.cache);
    throw failed.reason;
  }

  /**
   * One step for several requests (continuous batching): one call per stage for all of them, their rows as
   * one batch. A request a stage refuses (admission, a lost sequence) is rejected alone and released on every
   * stage; the others go on. A failure of the whole step (a stage down, a bad answer) rejects every request.
   * Every request must feed the same number of positions and ask for the same logits.
   */
  async forwardBatchSettled(reqs: readonly ForwardRequest[]): Promise<PromiseSettledResult<ForwardResult>[]> {
    if (reqs.length === 0) return [];
    const { checked, T, logitsFor } = checkBatch(reqs, this.config, StagedCache);
    const { vocabSize: V, nEmbd: E } = this.config;
    const positions = logitsFor === 'all' ? T : 1;
    this.steps++;

    const groups: Group[] = checked.map(({ batch, past, pastLength }, index) => {
      if (past) past.released = true; // consumed: the stages extend the same sequence
      const capacity = reqs[index]!.capacity;
      return { index, seq: past?.seq ?? newSeq(), B: batch, P: pastLength, cap: past?.capacity ?? 0, ...(capacity ? { capacity } : {}) };
    });
    const logits = checked.map((c) => new Float32Array(c.batch * positions * V));
    const hidden = checked.map((c, i) => (reqs[i]!.hidden ? new Float32Array(c.batch * T * E) : undefined));
    const failed = new Map<number, unknown>();
    let live = groups;
    try {
      // Long prompts go through in chunks, so no stage's activations grow with the prompt.
      for (let s = 0; s < T && live.length > 0; s += STAGE_CHUNK) {
        const t = Math.min(STAGE_CHUNK, T - s);
        const want = logitsFor === 'all' ? t : s + t === T ? 1 : 0;
        const chunk = live.map((g) => ({ ...g, P: g.P + s }));
        const ids = chunk.flatMap((g) => reqs[g.index]!.inputIds.map((row) => row.slice(s, s + t)));
        const out = await this.chunk(chunk, ids, t, want, failed);
        live = out.ran.map((g) => ({ ...g, P: g.P - s }));
        const rows = live.reduce((n, g) => n + g.B, 0);
        const l = want === 0 || rows === 0 ? undefined : (out.logits ?? (await this.head(out.last, rows, t, want)));
        let row = 0;
        for (const g of live) {
          const h = hidden[g.index];
          for (let b = 0; b < g.B; b++, row++) {
            h?.set(out.last.subarray(row * t * E, (row + 1) * t * E), (b * T + s) * E);
            if (l)
              logits[g.index]!.set(l.subarray(row * want * V, (row + 1) * want * V), (b * positions + (logitsFor === 'all' ? s : 0)) * V);
          }
        }
      }
    } catch (err) {
      for (const g of live) if (!failed.has(g.index)) failed.set(g.index, err);
    }
    return groups.map((g): PromiseSettledResult<ForwardResult> => {
      if (failed.has(g.index)) {
        this.queue({ op: 'release', seq: g.seq });
        return { status: 'rejected', reason: failed.get(g.index) };
      }
      const h = hidden[g.index];
      const cache = new StagedCache(g.seq, g.B, g.P + T, live.find((x) => x.index === g.index)!.cap);
      return { status: 'fulfilled', value: { logits: logits[g.index]!, positions, cache, ...(h ? { hidden: h } : {}) } };
    });
  }

  /** Bytes the stages hold for `cache` (every stage's block: rows × capacity × its layers' bytes per position). */
  cacheBytes(cache: KVCache): number {
    const c = ownCache(cache, StagedCache);
    return c.batch * c.capacity * this.kvBytesPerToken;
  }

  /** Bytes a new sequence of `rows` rows reserved for `positions` positions takes over all stages. */
  reserveBytes(rows: number, positions: number): number {
    return rows * blockCapacity(positions, positions, this.config.nPositions) * this.kvBytesPerToken;
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    const src = ownCache(cache, StagedCache);
    for (const r of rows)
      if (!Number.isInteger(r) || r < 0 || r >= src.batch) throw new RangeError(`row ${r} is outside the cache's ${src.batch} rows`);
    const to = newSeq();
    this.queue({ op: 'select', from: src.seq, to, rows: [...rows] });
    return new StagedCache(to, rows.length, src.length, src.capacity);
  }

  release(cache: KVCache): void {
    if (!(cache instanceof StagedCache) || cache.released) return;
    cache.released = true;
    this.queue({ op: 'release', seq: cache.seq });
  }

  /** Every stage's state (the gateway's /health and the benchmarks). */
  async stats(): Promise<StageInfo[]> {
    return Promise.all(this.stages.map(async (s, k) => this.value(k, await s.client.stats())));
  }

  /**
   * One chunk of every group through every stage: the final hidden states of the groups that ran (rows in
   * group order), and logits when the last stage holds the head. A group a stage refuses is left out of the
   * rest of the chunk, its error in `failed`.
   */
  private async chunk(
    groups: readonly Group[],
    ids: number[][],
    T: number,
    positions: number,
    failed: Map<number, unknown>,
  ): Promise<{ ran: Group[]; last: Float32Array; logits?: Float32Array }> {
    let live = groups.map((g) => ({
      ...g,
      cap: g.cap >= g.P + T ? g.cap : blockCapacity(g.P + T, g.capacity ?? 0, this.config.nPositions),
    }));
    let state: Pick<StageStepRequest, 'ids' | 'hidden' | 'attn'> = this.ends
      ? {
          hidden: this.ends.embed(
            ids,
            live.flatMap((g) => Array<number>(g.B).fill(g.P)),
          ),
          attn: null,
        }
      : { ids };
    // Gateway hops: a call per stage, its ops drained under its lock (call()). Chained: a call per run of up
    // to CHAIN_STAGES stages (one for any plan up to 30), each passing the step on to the next, with every
    // stage's ops for this step's sequences (opsFor). Either way a stage checks the first layer it is sent.
    const order = this.stages.flatMap((s, k) => (k === 0 || s.info.layers ? [k] : [])); // only the ends stage may hold no layers, and it is first
    const per = this.hops === 'chain' ? CHAIN_STAGES : 1;
    const seqs = new Set(live.map((g) => g.seq));
    for (let at = 0; at < order.length; at += per) {
      const run = order.slice(at, at + per);
      const k = run[0]!;
      const ops = this.hops === 'chain' ? run.map((j) => this.take(j, seqs)) : [];
      const rows = live.reduce((n, g) => n + g.B, 0);
      const inline = run.some((j) => this.stages[j]!.info.ends) && positions > 0 && rows * positions <= HEAD_ROWS;
      const req: Omit<StageStepRequest, 'ops'> = {
        groups: live.map(({ seq, B, P, capacity }) => ({ seq, B, P, ...(capacity ? { capacity } : {}) })),
        T,
        ...state,
        first: this.stages[k]!.info.layers?.[0] ?? 0,
        ...(inline ? { positions } : {}),
        ...(run.length > 1 ? { next: ops.slice(1) } : {}),
      };
      const a = await this.call(k, (drained) => this.stages[k]!.client.step({ ops: ops[0] ?? drained, ...req }));
      // A chained answer names the stage of a failure or refusal by `at`, hops after the one called.
      if (!a.ok) throw this.error(run[a.at ?? 0] ?? k, a);
      const r = a.value;
      if (r.refused?.length) {
        const out = new Set(r.refused.map((x) => x.group));
        for (const x of r.refused) {
          const g = live[x.group];
          if (g) failed.set(g.index, this.error(run[x.failure.at ?? 0] ?? k, x.failure));
        }
        live = live.filter((_, i) => !out.has(i));
        if (live.length === 0) return { ran: [], last: new Float32Array(0) };
      }
      if (r.kind === 'last') return { ran: live, last: r.last, ...(r.logits ? { logits: r.logits } : {}) };
      state = { hidden: r.hidden, attn: r.attn };
    }
    throw new StageError('stage_failed', 'the stages do not end the model (no stage ran the last layer)');
  }

  /**
   * Logits of the last `positions` of `B` rows, here or from the ends stage, at most HEAD_ROWS scored
   * positions per call (the activation term of either isolate's budget).
   */
  private async head(last: Float32Array, B: number, T: number, positions: number): Promise<Float32Array> {
    const { vocabSize: V, nEmbd: E } = this.config;
    const k = this.stages.findIndex((s) => s.info.ends);
    const local = this.ends;
    const call = local
      ? (part: Float32Array, rows: number, n: number) => Promise.resolve(local.head(part, rows, n, n))
      : (part: Float32Array, rows: number, n: number) =>
          this.call(k, (ops) => this.stages[k]!.client.head({ ops, last: part, B: rows, T: n, positions: n })).then((a) =>
            this.value(k, a),
          );
    // Only the scored positions travel: [rows, positions, E].
    const scored = (b: number, from: number, n: number) =>
      last.slice((b * T + T - positions + from) * E, (b * T + T - positions + from + n) * E);
    if (positions <= HEAD_ROWS) {
      const per = Math.floor(HEAD_ROWS / positions);
      const rowsFrom = (b0: number, rows: number) => {
        const part = new Float32Array(rows * positions * E);
        for (let b = 0; b < rows; b++) part.set(scored(b0 + b, 0, positions), b * positions * E);
        return call(part, rows, positions);
      };
      // One call (every decode step of up to HEAD_ROWS rows): its answer is the logits, no copy.
      if (B <= per) return rowsFrom(0, B);
      const out = new Float32Array(B * positions * V);
      for (let b0 = 0; b0 < B; b0 += per) {
        const rows = Math.min(per, B - b0);
        out.set(await rowsFrom(b0, rows), b0 * positions * V);
      }
      return out;
    }
    const out = new Float32Array(B * positions * V);
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < positions; p += HEAD_ROWS) {
        const n = Math.min(HEAD_ROWS, positions - p);
        out.set(await call(scored(b, p, n), 1, n), (b * positions + p) * V);
      }
    }
    return out;
  }

  /**
   * A stage call: with gateway hops under the stage's lock, with the ops queued for it; chained, with none
   * (a chained step takes its own, opsFor; a head call needs none). An RPC that throws (the stage isolate was
   * reset, the connection dropped) is a StageError.
   */
  private async call<T>(k: number, fn: (ops: StageOp[]) => Promise<StageAnswer<T>>): Promise<StageAnswer<T>> {
    try {
      return await (this.hops === 'chain' ? fn([]) : this.locks[k]!.run(() => fn(this.drain(k))));
    } catch (err) {
      this.log(`[staged] stage ${k} call failed: ${String((err as Error)?.message ?? err).slice(0, 300)}`);
      throw new StageError('stage_failed', `stage ${k} failed during the request (it may have been reset); retry the request`);
    }
  }

  private value<T>(k: number, a: StageAnswer<T>): T {
    if (a.ok) return a.value;
    throw this.error(k, a);
  }

  /** A stage's failure as the error the request fails with. */
  private error(k: number, a: StageFailure): Error {
    if (a.code === 'overloaded') return new StageError('overloaded', `the model is at capacity: ${a.message}`, a.retryAfter ?? 2);
    if (a.code === 'load_failed') return new ModelLoadError(loadCode(a.loadCode), a.message);
    if (a.code === 'unknown_sequence')
      return new StageError('unknown_sequence', `stage ${k} lost this request's state (the stage restarted); retry the request`);
    if (a.code === 'unreachable') return new StageError('stage_failed', `stage ${k} ${a.message}`);
    return new StageError('stage_failed', `stage ${k}: ${a.message}`);
  }

  private queue(op: StageOp): void {
    for (const [k, s] of this.stages.entries()) if (s.info.layers) this.pending[k]!.push(op);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // Ops ride on the next call to each stage. A queue of releases only (a request ended: no call follows)
    // goes on its own; a queue holding a select waits for the forward that follows it, since two calls
    // (two stubs) may arrive in either order and a select must precede its sequence's step.
    // Chained, the ops that need no step go (opsFor: releases, and selects whose sequence was released).
    queueMicrotask(() => {
      this.flushQueued = false;
      for (const [k, s] of this.stages.entries()) {
        const ops = this.pending[k]!;
        if (this.hops === 'gateway' && ops.some((o) => o.op === 'select')) continue;
        // Sent as a copy and dropped from the queue once applied: if this call is lost (the request that made
        // it ended), the releases go again with the next call to the stage (a release is idempotent).
        const sent = this.hops === 'chain' ? opsFor(ops, new Set()).send : [...ops];
        if (sent.length === 0) continue;
        void s.client.apply(sent).then(
          () => (this.pending[k] = this.pending[k]!.filter((o) => !sent.includes(o))),
          (err: unknown) => this.log(`[staged] stage ${k} apply failed (the releases go with the next call): ${String(err).slice(0, 200)}`),
        );
      }
    });
  }

  /** Stage k's queued ops for a chained step of the sequences `seqs` (opsFor); the rest stay queued. */
  private take(k: number, seqs: ReadonlySet<string>): StageOp[] {
    const { send, keep } = opsFor(this.pending[k]!, seqs);
    this.pending[k] = keep;
    return send;
  }

  private drain(k: number): StageOp[] {
    const ops = this.pending[k]!;
    this.pending[k] = [];
    return ops;
  }
}

function loadCode(code: string | undefined): ModelLoadErrorCode {
  const known: ModelLoadErrorCode[] = [
    'manifest_missing',
    'manifest_invalid',
    'blob_missing',
    'blob_corrupt',
    'fetch_failed',
    'session_failed',
  ];
  return known.includes(code as ModelLoadErrorCode) ? (code as ModelLoadErrorCode) : 'session_failed';
}

/**
 * The gateway's load of a staged model: manifest and tokenizer from R2, then every stage's part (each stage
 * loads its own, in parallel, with the same verified loader). The stages must cover the layers exactly once,
 * in order, and one of them (first in call order) must hold the embedding.
 */
export async function loadStagedModel(
  source: BlobSource,
  id: string,
  clients: readonly StageClient[],
  opts: LoaderOptions & {
    batching?: SchedulerOptions;
    /** This isolate's runtime, for the embedding and head when no stage holds them. */
    runtime?: () => OrtRuntime;
    /** How steps go through the stages (STAGE_HOPS); default: chained where the stages are wired for it. */
    hops?: StageHops;
  } = {},
): Promise<LoadedModel> {
  const log = opts.log ?? console.log;
  const manifest = await fetchManifest(source, id, opts);
  if (manifest.layout !== 'host-attention') {
    throw new ModelLoadError(
      'manifest_invalid',
      `model "${id}" is staged but not in the host-attention layout; re-convert it without --attention graph`,
    );
  }
  const [tokenizerBytes] = await fetchBlobs(source, [manifest.tokenizer], opts);
  let tokenizer;
  try {
    tokenizer = createTokenizer(JSON.parse(new TextDecoder().decode(tokenizerBytes)), manifest.config.eos_token_id);
  } catch (err) {
    throw new ModelLoadError('manifest_invalid', `${manifest.tokenizer.key} is not a usable tokenizer.json: ${(err as Error).message}`);
  }
  const answers = await Promise.all(
    clients.map((c, k) =>
      c.load().catch((err: unknown): StageAnswer<StageInfo> => {
        log(`[staged] stage ${k} load call failed: ${String(err).slice(0, 300)}`);
        return { ok: false, code: 'load_failed', message: `stage ${k} did not answer`, loadCode: 'fetch_failed' };
      }),
    ),
  );
  const stages: Stage[] = [];
  for (const a of answers) {
    if (!a.ok) throw new ModelLoadError(loadCode(a.loadCode), a.message);
    stages.push({ client: clients[stages.length]!, info: a.value });
  }
  const order = orderStages(manifest, id, stages);
  const unchained = order.slice(0, -1).flatMap((s) => (s.info.next ? [] : [s.info.stage]));
  const hops = opts.hops ?? (unchained.length === 0 ? 'chain' : 'gateway');
  if (hops === 'chain' && unchained.length > 0)
    throw new ModelLoadError(
      'manifest_invalid',
      `staged model "${id}": chained hops need a NEXT_STAGE binding on every stage but the last; stage(s) ${unchained.join(', ')} have none (re-run npm run stages)`,
    );
  let ends: HostEnds | undefined;
  if (!order.some((s) => s.info.ends)) {
    // The gateway holds the embedding and head (the plan gave them to no stage).
    if (!opts.runtime)
      throw new ModelLoadError(
        'session_failed',
        `staged model "${id}": no stage holds the embedding and this isolate has no runtime for it`,
      );
    const rt = opts.runtime();
    const part = await loadHostPart(source, manifest, { layers: null, ends: true }, { ...opts, runtime: rt, log });
    ends = new HostEnds(rt.kernels!(), manifest, part.weights!);
    log(
      `[staged] ${id}: embedding + head in the gateway (fetch+verify ${part.fetchMs} ms), wasm ${(rt.heapBytes() / 2 ** 20).toFixed(1)} MB`,
    );
  }
  log(
    `[staged] ${id}: ${order.length} stages ready (${hops === 'chain' ? 'chained' : 'the gateway calls each'}): ${ends ? 'gateway: ends | ' : ''}${order.map((s) => `${s.info.ends ? 'ends+' : ''}${s.info.layers ? s.info.layers.join('..') : '-'}`).join(' | ')}`,
  );
  const staged = new StagedCausalLM(manifest, order, log, ends, hops);
  return { id, manifest, lm: opts.batching ? batched(staged, id, opts.batching, log) : staged, tokenizer };
}

/**
 * Steps in flight at once through the stages by default (PIPELINE_LANES sets it): two cohorts of streams
 * take turns, one in the stages while the other is sampled, or in different stages.
 */
const STAGED_LANES = 2;

/**
 * The staged model behind a step scheduler: one step, one call per stage, for every request waiting. KV
 * admission is the stages' (each meters its own isolate, against every gateway isolate's sequences: the
 * gateway sees only its own), so the gateway's budget is Infinity unless KV_BUDGET_MB sets one (then a
 * bound on this gateway isolate's sequences, in bytes over all stages).
 */
function batched(lm: StagedCausalLM, id: string, opts: SchedulerOptions, log: (line: string) => void): StepScheduler {
  const kvBudgetBytes = opts.kvBudgetBytes ?? Infinity;
  // A stage's activation budget is one call of STAGE_CHUNK positions (budget.ts): rows × 1 of a decode step too.
  const rows = opts.maxBatchRows === undefined ? {} : { maxBatchRows: Math.min(opts.maxBatchRows, STAGE_CHUNK) };
  const lanes = opts.lanes ?? STAGED_LANES;
  log(
    `[staged] ${id}: batching up to ${rows.maxBatchRows ?? 'default'} rows per step in ${lanes} lane(s), KV budget ${Number.isFinite(kvBudgetBytes) ? `${(kvBudgetBytes / 2 ** 20).toFixed(1)} MB` : "the stages'"}`,
  );
  return new StepScheduler(lm, { ...opts, ...rows, kvBudgetBytes, lanes });
}

/**
 * Checks the plan and returns the stages in call order (the ends stage first if there is one, then by first
 * layer). No stage with the ends: the gateway holds them.
 */
function orderStages(manifest: Manifest, id: string, stages: readonly Stage[]): Stage[] {
  const bad = (why: string) => new ModelLoadError('manifest_invalid', `staged model "${id}": ${why}`);
  for (const s of stages) if (s.info.model !== id) throw bad(`stage ${s.info.stage} serves "${s.info.model}"`);
  const ends = stages.filter((s) => s.info.ends);
  if (ends.length > 1) throw bad(`at most one stage may hold the embedding and head, ${ends.length} do`);
  const e = ends[0];
  if (e?.info.layers && e.info.layers[0] !== 0) throw bad('the stage with the embedding must hold layer 0 (or no layers)');
  const rest = stages.filter((s) => s !== e && s.info.layers).sort((a, b) => a.info.layers![0] - b.info.layers![0]);
  const order = e ? [e, ...rest] : rest;
  let at = 0;
  for (const s of order) {
    if (!s.info.layers) continue;
    if (s.info.layers[0] !== at) throw bad(`layers ${at}.. are not covered (stage ${s.info.stage} starts at ${s.info.layers[0]})`);
    at = s.info.layers[1];
  }
  if (at !== manifest.config.n_layer) throw bad(`the stages cover layers 0..${at - 1} of ${manifest.config.n_layer}`);
  return order;
}

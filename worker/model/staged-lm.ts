/**
 * StagedCausalLM: the CausalLM contract over a pipeline of stage isolates (worker/stage), for models too big
 * for one Worker isolate. The gateway keeps tokenizer, generation and routes; per forward step it calls
 * the stages in layer order with the next segment's input (hidden + attention output, [rows, n_embd] each),
 * then the ends stage's head for the logits. Stage 0 holds the tied embedding (lookup on the way in, LM head
 * on the way out) and possibly the first layers, so wte is held once in the whole pipeline.
 *
 * The contract's selectRows and release are synchronous: they name a new cache (or drop one) at once and
 * queue an op per stage, shipped with the next call to that stage (releases alone: a flush right after),
 * which applies it before anything else. A stage failure ends the forward with a StageError (coded, safe to show) and
 * drops the sequence on every stage; other sequences are unaffected.
 */
import type { CausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig } from '../generation/types.ts';
import { STAGE_CHUNK, HEAD_ROWS } from '../stage/budget.ts';
import type { StageAnswer, StageClient, StageInfo, StageOp, StageStepRequest, StageStepResult } from '../stage/protocol.ts';
import { fetchBlobs, fetchManifest, type LoaderOptions } from './loader.ts';
import { lmConfig, ownCache } from './lm-contract.ts';
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
  ) {}
}

export interface Stage {
  client: StageClient;
  info: StageInfo;
}

let nextSeq = 0;
let prefix: string | undefined;
/** A sequence name unique across gateway isolates (several may drive the same stages); random on first use (not at module scope: Workers forbid it there). */
function newSeq(): string {
  prefix ??= crypto.randomUUID().slice(0, 8);
  return `${prefix}-${++nextSeq}`;
}

export class StagedCausalLM implements CausalLM {
  readonly config: LMConfig;
  private readonly pending: StageOp[][];
  private flushQueued = false;
  /** Forward calls run so far (tests and logs). */
  steps = 0;

  /** `stages` in call order: the ends stage first (it embeds), then the others by first layer. */
  constructor(
    manifest: Manifest,
    private readonly stages: readonly Stage[],
    private readonly log: (line: string) => void = console.log,
  ) {
    const c = manifest.config;
    this.config = lmConfig(c);
    this.pending = stages.map(() => []);
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const B = req.inputIds.length;
    const T = req.inputIds[0]?.length ?? 0;
    if (B === 0 || T === 0) throw new RangeError('forward() needs at least one row of at least one token');
    if (req.inputIds.some((row) => row.length !== T)) throw new RangeError('every row of inputIds must have the same length');
    const { vocabSize: V, nPositions, nEmbd: E } = this.config;
    if (req.inputIds.some((row) => row.some((id) => !Number.isInteger(id) || id < 0 || id >= V))) {
      throw new RangeError(`token ids must be integers in [0, ${V})`);
    }
    const past = req.cache ? ownCache(req.cache, StagedCache) : null;
    if (past && past.batch !== B) throw new RangeError(`cache has ${past.batch} rows, inputIds has ${B}`);
    const P = past?.length ?? 0;
    if (P + T > nPositions) throw new RangeError(`${P + T} positions exceed the model's context of ${nPositions}`);
    const positions = req.logitsFor === 'all' ? T : 1;
    const seq = past?.seq ?? newSeq();
    if (past) past.released = true; // consumed: the stages extend the same sequence
    this.steps++;

    const logits = new Float32Array(B * positions * V);
    const hidden = req.hidden ? new Float32Array(B * T * E) : undefined;
    try {
      // Long prompts go through in chunks, so no stage's activations grow with the prompt.
      for (let s = 0; s < T; s += STAGE_CHUNK) {
        const t = Math.min(STAGE_CHUNK, T - s);
        const ids = req.inputIds.map((row) => row.slice(s, s + t));
        const want = req.logitsFor === 'all' ? t : s + t === T ? 1 : 0;
        const { last, logits: got } = await this.chunk(seq, B, t, P + s, ids, want, req.capacity);
        if (hidden) for (let b = 0; b < B; b++) hidden.set(last.subarray(b * t * E, (b + 1) * t * E), (b * T + s) * E);
        if (want === 0) continue;
        const l = got ?? (await this.head(last, B, t, want));
        const at = req.logitsFor === 'all' ? s : 0;
        for (let b = 0; b < B; b++) logits.set(l.subarray(b * want * V, (b + 1) * want * V), (b * positions + at) * V);
      }
    } catch (err) {
      this.queue({ op: 'release', seq });
      throw err;
    }
    return { logits, positions, cache: new StagedCache(seq, B, P + T), ...(hidden ? { hidden } : {}) };
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    const src = ownCache(cache, StagedCache);
    for (const r of rows)
      if (!Number.isInteger(r) || r < 0 || r >= src.batch) throw new RangeError(`row ${r} is outside the cache's ${src.batch} rows`);
    const to = newSeq();
    this.queue({ op: 'select', from: src.seq, to, rows: [...rows] });
    return new StagedCache(to, rows.length, src.length);
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

  /** One chunk through every stage: the final hidden states, and logits when the last stage holds the head. */
  private async chunk(
    seq: string,
    B: number,
    T: number,
    P: number,
    ids: number[][],
    positions: number,
    capacity?: number,
  ): Promise<{ last: Float32Array; logits?: Float32Array }> {
    let state: Pick<StageStepRequest, 'ids' | 'hidden' | 'attn'> = { ids };
    for (let k = 0; k < this.stages.length; k++) {
      const s = this.stages[k]!;
      if (k > 0 && !s.info.layers) continue; // only the ends stage may hold no layers, and it is first
      const inline = s.info.ends && positions > 0 && B * positions <= HEAD_ROWS;
      const req: StageStepRequest = {
        ops: this.drain(k),
        seq,
        B,
        T,
        P,
        ...state,
        ...(capacity ? { capacity } : {}),
        ...(inline ? { positions } : {}),
      };
      const r: StageStepResult = this.value(k, await this.call(k, () => s.client.step(req)));
      if (r.kind === 'last') return { last: r.last, ...(r.logits ? { logits: r.logits } : {}) };
      state = { hidden: r.hidden, attn: r.attn };
    }
    throw new StageError('stage_failed', 'the stages do not end the model (no stage ran the last layer)');
  }

  /** Logits from the ends stage, in groups of at most HEAD_ROWS scored positions. */
  private async head(last: Float32Array, B: number, T: number, positions: number): Promise<Float32Array> {
    const { vocabSize: V, nEmbd: E } = this.config;
    const k = this.stages.findIndex((s) => s.info.ends);
    const ends = this.stages[k]!;
    if (B * positions <= HEAD_ROWS) {
      return this.value(k, await this.call(k, () => ends.client.head({ ops: this.drain(k), last, B, T, positions })));
    }
    const out = new Float32Array(B * positions * V);
    for (let b = 0; b < B; b++) {
      for (let p = T - positions; p < T; p += HEAD_ROWS) {
        const g = Math.min(HEAD_ROWS, T - p);
        const part = last.slice((b * T + p) * E, (b * T + p + g) * E);
        const l = this.value(k, await this.call(k, () => ends.client.head({ ops: this.drain(k), last: part, B: 1, T: g, positions: g })));
        out.set(l, (b * positions + p - (T - positions)) * V);
      }
    }
    return out;
  }

  /** A stage call; an RPC that throws (the stage isolate was reset, the connection dropped) is a StageError. */
  private async call<T>(k: number, fn: () => Promise<StageAnswer<T>>): Promise<StageAnswer<T>> {
    try {
      return await fn();
    } catch (err) {
      this.log(`[staged] stage ${k} call failed: ${String((err as Error)?.message ?? err).slice(0, 300)}`);
      throw new StageError('stage_failed', `stage ${k} failed during the request (it may have been reset); retry the request`);
    }
  }

  private value<T>(k: number, a: StageAnswer<T>): T {
    if (a.ok) return a.value;
    if (a.code === 'overloaded') throw new StageError('overloaded', `the model is at capacity: ${a.message}`, a.retryAfter ?? 2);
    if (a.code === 'load_failed') throw new ModelLoadError(loadCode(a.loadCode), a.message);
    if (a.code === 'unknown_sequence')
      throw new StageError('unknown_sequence', `stage ${k} lost this request's state (the stage restarted); retry the request`);
    throw new StageError('stage_failed', `stage ${k}: ${a.message}`);
  }

  private queue(op: StageOp): void {
    for (const [k, s] of this.stages.entries()) if (s.info.layers) this.pending[k]!.push(op);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // Ops ride on the next call to each stage. A queue of releases only (a request ended: no call follows)
    // goes on its own; a queue holding a select waits for the forward that follows it, since two calls
    // (two stubs) may arrive in either order and a select must precede its sequence's step.
    queueMicrotask(() => {
      this.flushQueued = false;
      for (const [k, s] of this.stages.entries()) {
        const ops = this.pending[k]!;
        if (ops.length === 0 || ops.some((o) => o.op === 'select')) continue;
        // Sent as a copy and dropped from the queue once applied: if this call is lost (the request that made
        // it ended), the releases go again with the next call to the stage (a release is idempotent).
        const sent = [...ops];
        void s.client.apply(sent).then(
          () => (this.pending[k] = this.pending[k]!.filter((o) => !sent.includes(o))),
          (err: unknown) => this.log(`[staged] stage ${k} apply failed (the releases go with the next call): ${String(err).slice(0, 200)}`),
        );
      }
    });
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
  opts: LoaderOptions = {},
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
  log(
    `[staged] ${id}: ${order.length} stages ready: ${order.map((s) => `${s.info.ends ? 'ends+' : ''}${s.info.layers ? s.info.layers.join('..') : '-'}`).join(' | ')}`,
  );
  return { id, manifest, lm: new StagedCausalLM(manifest, order, log), tokenizer };
}

/** Checks the plan and returns the stages in call order (ends first, then by first layer). */
function orderStages(manifest: Manifest, id: string, stages: readonly Stage[]): Stage[] {
  const bad = (why: string) => new ModelLoadError('manifest_invalid', `staged model "${id}": ${why}`);
  for (const s of stages) if (s.info.model !== id) throw bad(`stage ${s.info.stage} serves "${s.info.model}"`);
  const ends = stages.filter((s) => s.info.ends);
  if (ends.length !== 1) throw bad(`exactly one stage must hold the embedding and head, ${ends.length} do`);
  const e = ends[0]!;
  if (e.info.layers && e.info.layers[0] !== 0) throw bad('the stage with the embedding must hold layer 0 (or no layers)');
  const rest = stages.filter((s) => s !== e && s.info.layers).sort((a, b) => a.info.layers![0] - b.info.layers![0]);
  const order = [e, ...rest];
  let at = 0;
  for (const s of order) {
    if (!s.info.layers) continue;
    if (s.info.layers[0] !== at) throw bad(`layers ${at}.. are not covered (stage ${s.info.stage} starts at ${s.info.layers[0]})`);
    at = s.info.layers[1];
  }
  if (at !== manifest.config.n_layer) throw bad(`the stages cover layers 0..${at - 1} of ${manifest.config.n_layer}`);
  return order;
}

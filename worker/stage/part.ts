/**
 * One stage's runtime, independent of Durable Objects (Node tests drive it directly): lazily loads its part
 * of a host-attention model with the verified loader, keeps the KV caches of the sequences it serves, meters
 * them against the isolate's byte budget, and answers the protocol (protocol.ts) with values, never throws.
 * One per isolate (module scope): the weights are held once whatever the number of Durable Object instances.
 */
import { HostEnds, HostLayers, type LayerCache } from '../model/host-parts.ts';
import { loadHostPart } from '../model/load-model.ts';
import { fetchManifest } from '../model/loader.ts';
import type { Manifest } from '../model/manifest.ts';
import { Mutex } from '../model/mutex.ts';
import type { OrtRuntime } from '../model/ort.ts';
import { ModelLoadError, type BlobSource } from '../model/types.ts';
import { stageBudget, type PartSpec } from './budget.ts';
import type {
  StageAnswer,
  StageBudget,
  StageClient,
  StageFailure,
  StageHeadRequest,
  StageInfo,
  StageOp,
  StageRefusal,
  StageStepRequest,
  StageStepResult,
} from './protocol.ts';

export interface StageConfig {
  stage: number;
  model: string;
  spec: PartSpec;
  /** The isolate's memory limit the budget is computed from (default 128 MiB). */
  limitBytes?: number;
  /** Optional operator cap on resident KV bytes. */
  kvCapBytes?: number;
  /** Seconds an `overloaded` answer asks the client to wait. */
  retryAfterSeconds?: number;
}

interface Loaded {
  manifest: Manifest;
  ends?: HostEnds;
  layers?: HostLayers;
  budget: StageBudget;
}

export interface StageRuntime {
  readonly config: StageConfig;
  load(): Promise<StageAnswer<StageInfo>>;
  step(req: StageStepRequest): Promise<StageAnswer<StageStepResult>>;
  head(req: StageHeadRequest): Promise<StageAnswer<Float32Array>>;
  apply(ops: StageOp[]): Promise<StageAnswer<null>>;
  stats(): Promise<StageAnswer<StageInfo>>;
  /** Drops every sequence (a new Durable Object incarnation: the old one's state is gone). */
  reset(): void;
}

/** An array that owns its whole buffer: structured clone copies a view's entire buffer, not the view. */
function compact(a: Float32Array): Float32Array {
  return a.byteOffset === 0 && a.buffer.byteLength === a.byteLength ? a : a.slice();
}

/** A sequence not stepped for this long is dropped: generation steps every few hundred ms at most. */
const IDLE_MS = 5 * 60_000;

const fail = (code: StageFailure['code'], message: string, extra: Partial<StageFailure> = {}): StageFailure => ({
  ok: false,
  code,
  message,
  ...extra,
});

/**
 * `next`: a client of the next stage (a fresh Durable Object stub each time: a stub belongs to the request
 * that made it), for chained steps; absent on the last stage, or where the gateway calls each stage itself.
 */
export function createStageRuntime(
  config: StageConfig,
  source: BlobSource,
  runtime: () => OrtRuntime,
  log: (line: string) => void = console.log,
  next?: () => StageClient,
): StageRuntime {
  const { spec } = config;
  const name = `stage ${config.stage} (${spec.layers ? `layers ${spec.layers[0]}..${spec.layers[1] - 1}` : 'no layers'}${spec.ends ? ', embedding + head' : ''})`;
  let loaded: Loaded | undefined;
  let inFlight: Promise<Loaded> | undefined;
  const seqs = new Map<string, LayerCache>();
  /** Sequences whose select op failed: the reason is given to the step that uses them. */
  const failed = new Map<string, StageFailure>();
  const mutex = new Mutex();
  let resident = 0;
  const steps = { calls: 0, rows: 0, groups: 0, maxRows: 0, passed: 0 };
  /** Last step per sequence: a sequence idle for IDLE_MS is dropped (its gateway's release was lost). */
  const touched = new Map<string, number>();

  function sweep(l: Loaded): void {
    const now = Date.now();
    for (const [seq, at] of touched) if (now - at > IDLE_MS) drop(l, seq);
  }

  const bytesOf = (l: Loaded, c: LayerCache) => l.layers!.cacheBytes(c.batch, c.capacity);

  function ensure(): Promise<Loaded> {
    if (loaded) return Promise.resolve(loaded);
    inFlight ??= (async () => {
      try {
        const manifest = await fetchManifest(source, config.model);
        const rt = runtime();
        const part = await loadHostPart(source, manifest, spec, { runtime: rt, log });
        const kernels = rt.kernels!();
        const l: Loaded = { manifest, budget: stageBudget(manifest, spec, config.limitBytes, config.kvCapBytes) };
        if (spec.ends) l.ends = new HostEnds(kernels, manifest, part.weights!);
        if (spec.layers) l.layers = new HostLayers(kernels, manifest, spec.layers[0], spec.layers[1], part.segments);
        loaded = l;
        log(
          `[stage] ${config.model} ${name}: loaded (fetch+verify ${part.fetchMs} ms, sessions ${part.sessionMs} ms), wasm ${(rt.heapBytes() / 2 ** 20).toFixed(1)} MB`,
        );
        return l;
      } finally {
        inFlight = undefined; // a failure is not cached: the next call tries again
      }
    })();
    return inFlight;
  }

  async function withLoaded<T>(fn: (l: Loaded) => Promise<StageAnswer<T>> | StageAnswer<T>): Promise<StageAnswer<T>> {
    let l: Loaded;
    try {
      l = await ensure();
    } catch (err) {
      const e =
        err instanceof ModelLoadError ? err : new ModelLoadError('session_failed', String((err as Error)?.message ?? err).slice(0, 200));
      return fail('load_failed', `${name}: ${e.message}`, { loadCode: e.code });
    }
    try {
      return await fn(l);
    } catch (err) {
      log(`[stage] ${name}: ${(err as Error)?.stack ?? String(err)}`);
      return fail(
        err instanceof RangeError ? 'bad_request' : 'internal',
        `${name}: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
      );
    }
  }

  function info(l: Loaded): StageInfo {
    const rt = runtime();
    const kernels = rt.kernels?.().heapBytes() ?? 0;
    return {
      stage: config.stage,
      model: config.model,
      layers: spec.layers,
      ends: spec.ends,
      next: next !== undefined,
      budget: l.budget,
      residentBytes: resident,
      sequences: seqs.size,
      steps: { ...steps },
      wasm: { ort: rt.heapBytes() - kernels, kernels },
    };
  }

  const ok = <T>(value: T): StageAnswer<T> => ({ ok: true, value, residentBytes: resident });

  function overloaded(l: Loaded, want: number): StageFailure {
    const mb = (n: number) => (n / 2 ** 20).toFixed(1);
    return fail(
      'overloaded',
      `${name} is at capacity: this sequence needs ${mb(want)} MB of KV cache, ${mb(Math.max(0, l.budget.kvBudgetBytes - resident))} MB of ${mb(l.budget.kvBudgetBytes)} MB is free`,
      {
        retryAfter: config.retryAfterSeconds ?? 2,
      },
    );
  }

  function drop(l: Loaded, seq: string): void {
    const c = seqs.get(seq);
    if (c) {
      resident -= bytesOf(l, c);
      l.layers!.release(c);
      seqs.delete(seq);
    }
    failed.delete(seq);
    touched.delete(seq);
  }

  /** Applied in order, synchronously, before the call they came with (so before any later call). */
  function applyOps(ops: readonly StageOp[]): void {
    const l = loaded;
    if (!l?.layers) return; // nothing cached here (ends only, or never loaded: nothing to release)
    for (const op of ops) {
      if (op.op === 'release') {
        drop(l, op.seq);
        continue;
      }
      const src = seqs.get(op.from);
      if (!src) {
        failed.set(
          op.to,
          failed.get(op.from) ?? fail('unknown_sequence', `${name} does not hold sequence ${op.from} (the stage restarted?)`),
        );
        continue;
      }
      const want = l.layers.cacheBytes(op.rows.length, src.capacity);
      if (resident + want > l.budget.kvBudgetBytes) {
        failed.set(op.to, overloaded(l, want));
        continue;
      }
      const c = l.layers.selectRows(src, op.rows);
      seqs.set(op.to, c);
      touched.set(op.to, Date.now());
      resident += want;
    }
  }

  /**
   * One step of one or more groups (protocol.ts): admission per group first, nothing reserved for a group
   * that is refused; then the admitted groups' rows through the layers in one run, and the head once.
   */
  async function runStep(l: Loaded, req: StageStepRequest): Promise<StageAnswer<StageStepResult>> {
    const { groups, T } = req;
    const { n_embd: E, n_positions: N } = l.manifest.config;
    if (!(groups.length > 0 && T > 0 && groups.every((g) => g.B > 0 && g.P >= 0 && g.P + T <= N)))
      return fail('bad_request', `${name}: bad shape T=${T} groups ${groups.map((g) => `${g.B}×${g.P}`).join(', ')}`);
    if (new Set(groups.map((g) => g.seq)).size !== groups.length)
      return fail('bad_request', `${name}: a sequence appears twice in one step`);
    const rows = groups.reduce((n, g) => n + g.B, 0);
    if (req.ids ? req.ids.length !== rows || req.ids.some((r) => r.length !== T) : req.hidden?.length !== rows * T * E)
      return fail('bad_request', `${name}: the step's input must be [${rows}, ${T}${req.ids ? '' : `, ${E}`}]`);
    if (req.ids && !l.ends) return fail('bad_request', `${name} does not hold the embedding`);
    if (!l.layers) {
      if (!req.ids) return fail('bad_request', `${name} holds no layers: a step brings it token ids`);
      count(groups.length, rows);
      const pasts = groups.flatMap((g) => Array<number>(g.B).fill(g.P));
      return ok({ kind: 'state', hidden: compact(l.ends!.embed(req.ids, pasts)), attn: null });
    }

    const layers = l.layers;
    sweep(l);
    const refused: StageRefusal[] = [];
    const admitted: { index: number; past: LayerCache | null; grow: number }[] = [];
    let free = l.budget.kvBudgetBytes - resident;
    for (const [index, g] of groups.entries()) {
      const refuse = (failure: StageFailure) => refused.push({ group: index, failure });
      touched.set(g.seq, Date.now());
      const gone = failed.get(g.seq);
      if (gone) {
        failed.delete(g.seq);
        refuse(gone);
        continue;
      }
      let past = seqs.get(g.seq) ?? null;
      if (g.P > 0 && !past) {
        refuse(fail('unknown_sequence', `${name} does not hold this sequence (the stage restarted?)`));
        continue;
      }
      if (g.P === 0 && past) {
        drop(l, g.seq); // a sequence name reused from the start: the old state is void
        free = l.budget.kvBudgetBytes - resident + admitted.reduce((n, a) => n - a.grow, 0);
        past = null;
      }
      if (past && (past.length !== g.P || past.batch !== g.B)) {
        refuse(fail('bad_request', `${name}: sequence has ${past.batch}×${past.length}, the step says ${g.B}×${g.P}`));
        continue;
      }
      let grow = 0;
      if (!past || past.capacity < g.P + T) {
        const after = layers.cacheBytes(g.B, layers.capacityFor(g.P + T, g.capacity));
        grow = after - (past ? bytesOf(l, past) : 0);
        if (grow > free) {
          refuse(overloaded(l, after));
          continue;
        }
      }
      free -= grow;
      admitted.push({ index, past, grow });
    }
    for (const r of refused) drop(l, groups[r.group]!.seq);
    const extra = refused.length > 0 ? { refused } : {};
    if (admitted.length === 0) return ok({ kind: 'state', hidden: new Float32Array(0), attn: null, ...extra });

    // Only the admitted groups' rows go in (all of them unless some were refused).
    const spans = admitted.map(({ index }) => {
      const from = groups.slice(0, index).reduce((n, g) => n + g.B, 0);
      return [from, from + groups[index]!.B] as const;
    });
    const kept = spans.reduce((n, [from, to]) => n + to - from, 0);
    const pick = (a: Float32Array): Float32Array => {
      if (refused.length === 0) return a;
      const per = T * E;
      const out = new Float32Array(kept * per);
      let o = 0;
      for (const [from, to] of spans) {
        out.set(a.subarray(from * per, to * per), o);
        o += (to - from) * per;
      }
      return out;
    };
    const caches = admitted.map(({ index, past, grow }) => {
      const g = groups[index]!;
      resident += grow;
      const cache = layers.reserve(past, g.B, g.P + T, g.capacity);
      seqs.set(g.seq, cache);
      return { cache, P: g.P };
    });
    count(admitted.length, kept);
    let state: { hidden: Float32Array; attn: Float32Array | null };
    if (req.ids) {
      const pasts = caches.flatMap((c) => Array<number>(c.cache.batch).fill(c.P));
      const ids = spans.flatMap(([from, to]) => req.ids!.slice(from, to));
      state = { hidden: l.ends!.embed(ids, pasts), attn: null };
    } else {
      state = { hidden: pick(req.hidden!), attn: req.attn ? pick(req.attn) : null };
    }
    try {
      const out = await layers.run(state, caches, T);
      if ('last' in out) {
        const logits = l.ends && req.positions ? l.ends.head(out.last, kept, T, req.positions) : undefined;
        return ok({ kind: 'last', last: compact(out.last), ...(logits ? { logits } : {}), ...extra });
      }
      return ok({ kind: 'state', hidden: compact(out.hidden), attn: out.attn && compact(out.attn), ...extra });
    } catch (err) {
      for (const { index } of admitted) drop(l, groups[index]!.seq);
      throw err;
    }
  }

  /**
   * A chained step, once this stage's part ran (outside the lock: the next step may start here while this
   * one is in the next stage): its output and the groups it admitted go to the next stage, whose answer,
   * with the refusals of both mapped to this request's groups, is the answer.
   */
  async function passOn(
    req: StageStepRequest,
    hops: StageOp[][],
    to: () => StageClient,
    a: StageAnswer<StageStepResult>,
  ): Promise<StageAnswer<StageStepResult>> {
    if (!a.ok) return a;
    const mine = a.value;
    if (mine.kind === 'last') return fail('bad_request', `${name} runs the last layer but the step names ${hops.length} more stage(s)`);
    const out = new Set(mine.refused?.map((r) => r.group));
    const kept = req.groups.flatMap((g, index) => (out.has(index) ? [] : [{ g, index }]));
    if (kept.length === 0) return a;
    let down: StageAnswer<StageStepResult>;
    steps.passed++;
    try {
      down = await to().step({
        ops: hops[0]!,
        groups: kept.map((k) => k.g),
        T: req.T,
        hidden: mine.hidden,
        attn: mine.attn,
        first: spec.layers?.[1] ?? 0,
        ...(req.positions ? { positions: req.positions } : {}),
        ...(hops.length > 1 ? { next: hops.slice(1) } : {}),
      });
    } catch (err) {
      log(`[stage] ${name}: the next stage failed: ${String((err as Error)?.message ?? err).slice(0, 300)}`);
      return fail('unreachable', 'failed during the request (it may have been reset); retry the request', { at: 1 });
    }
    if (!down.ok) return { ...down, at: (down.at ?? 0) + 1 };
    const refused = [
      ...(mine.refused ?? []),
      ...(down.value.refused ?? []).map((r) => ({ group: kept[r.group]!.index, failure: { ...r.failure, at: (r.failure.at ?? 0) + 1 } })),
    ];
    return ok({ ...down.value, ...(refused.length > 0 ? { refused } : {}) });
  }

  function count(groups: number, rows: number): void {
    steps.calls++;
    steps.groups += groups;
    steps.rows += rows;
    steps.maxRows = Math.max(steps.maxRows, rows);
  }

  return {
    config,
    load: () => withLoaded((l) => ok(info(l))),
    stats: () => withLoaded((l) => ok(info(l))),
    async apply(ops) {
      applyOps(ops);
      return ok(null);
    },
    reset() {
      const l = loaded;
      if (l?.layers) for (const seq of [...seqs.keys()]) drop(l, seq);
      failed.clear();
    },
    async step(req) {
      applyOps(req.ops);
      // Refused before anything runs: a step for other layers, or one this stage cannot pass on.
      if (req.first !== undefined && req.first !== (spec.layers?.[0] ?? 0))
        return fail('bad_request', `${name} was sent a step for layer ${req.first}: the stages are chained out of order (NEXT_STAGE)`);
      if (req.next?.length && !next) return fail('bad_request', `${name} has no NEXT_STAGE binding to pass a chained step on`);
      const a = await withLoaded((l) => mutex.run(() => runStep(l, req)));
      return req.next?.length && next ? passOn(req, req.next, next, a) : a;
    },
    head(req) {
      applyOps(req.ops);
      return withLoaded(async (l) => {
        if (!l.ends) return fail('bad_request', `${name} does not hold the LM head`);
        const E = l.manifest.config.n_embd;
        if (req.last.length !== req.B * req.T * E || req.positions < 1 || req.positions > req.T)
          return fail('bad_request', `${name}: last must be [${req.B}, ${req.T}, ${E}]`);
        return mutex.run(async () => ok(l.ends!.head(req.last, req.B, req.T, req.positions)));
      });
    },
  };
}

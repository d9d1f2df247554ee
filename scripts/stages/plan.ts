/**
 * Splits a host-attention model into stage isolates that each fit the isolate limit (worker/stage/budget.ts)
 * with `resident` sequences of `context` tokens in every stage's KV cache. The tied embedding (lookup + LM
 * head: held once in the pipeline) goes to
 * - the gateway (`ends: 'gateway'`, the default where it fits with a fifth of the isolate to spare: gpt2
 *   to gpt2-large): the gateway isolate holds wte, wpe and one call's logits beside its own JS
 *   (GATEWAY_JS_BYTES), and the layers are spread evenly over the fewest stages that fit. Only hidden
 *   states then cross isolates (see worker/model/staged-lm.ts). The spare fifth is because the gateway's
 *   JS grows with the streams it serves, which no plan bounds (measured 21–31 MiB with 1–8 streams).
 * - stage 0 (`ends: 'stage'`), with as many first layers as fit beside it (none for gpt2-xl, whose wte
 *   alone is 80 MB); the remaining layers are spread evenly over the fewest stages that fit.
 */
import type { Manifest } from '../../worker/model/manifest.ts';
import { ISOLATE_LIMIT_BYTES, stageBudget, type PartSpec } from '../../worker/stage/budget.ts';
import type { StageBudget } from '../../worker/stage/protocol.ts';

export interface PlanOptions {
  /** Sequences every stage must be able to hold at once (default 2). */
  resident?: number;
  /** Tokens of context per sequence (default n_positions). */
  context?: number;
  /** Force this many stages (stage 0 included); fails if a stage would not fit. */
  stages?: number;
  limitBytes?: number;
  /** Where the embedding and head live (default: the gateway when it fits in GATEWAY_DEFAULT_SHARE of the limit, else stage 0). */
  ends?: 'gateway' | 'stage';
}

/**
 * The gateway isolate's JS heap besides the ends: code, tokenizer, streams in flight (measured 17–24 MiB
 * with up to 8 streams, BENCHMARKS.md) and headroom.
 */
export const GATEWAY_JS_BYTES = 32 * 2 ** 20;
/** The share of the isolate limit the gateway's planned bytes may take for the ends to go there by default. */
export const GATEWAY_DEFAULT_SHARE = 0.8;

/** Bytes the gateway isolate needs when it holds the ends: their weights and one head call, and its JS. */
export function gatewayEndsBytes(m: Manifest, limitBytes = ISOLATE_LIMIT_BYTES): number {
  const b = stageBudget(m, { layers: null, ends: true }, limitBytes);
  return b.weightsBytes + b.activationBytes + GATEWAY_JS_BYTES;
}

export interface PlannedStage extends PartSpec {
  budget: StageBudget;
  /** Bytes at the planned residency: weights + runtime + activations + JS + resident × context of KV. */
  plannedBytes: number;
}

export class PlanError extends Error {
  override name = 'PlanError';
}

export function planStages(m: Manifest, o: PlanOptions = {}): PlannedStage[] {
  if (m.layout !== 'host-attention')
    throw new PlanError(`model "${m.id}" is not in the host-attention layout; convert it with the default --attention host`);
  const L = m.config.n_layer;
  const resident = o.resident ?? 2;
  const context = o.context ?? m.config.n_positions;
  const limit = o.limitBytes ?? ISOLATE_LIMIT_BYTES;
  const need = (spec: PartSpec) => {
    const b = stageBudget(m, spec, limit);
    const planned = b.weightsBytes + b.runtimeBytes + b.activationBytes + b.jsBytes + resident * context * b.kvBytesPerToken;
    return { budget: b, planned, fits: planned <= limit };
  };
  const stage = (spec: PartSpec): PlannedStage => {
    const n = need(spec);
    return { ...spec, budget: n.budget, plannedBytes: n.planned };
  };
  /** Most layers from `first` that fit one stage (with or without the ends). */
  const most = (first: number, ends: boolean) => {
    let k = 0;
    while (first + k < L && need({ layers: [first, first + k + 1], ends }).fits) k++;
    return k;
  };
  if (!need({ layers: null, ends: true }).fits)
    throw new PlanError(`the embedding alone (${mb(need({ layers: null, ends: true }).planned)}) does not fit an isolate of ${mb(limit)}`);
  const gateway = gatewayEndsBytes(m, limit);
  if (o.ends === 'gateway' && gateway > limit)
    throw new PlanError(
      `the embedding and head need ${mb(gateway)} in the gateway isolate (limit ${mb(limit)}); plan them on stage 0 (--ends stage)`,
    );
  const endsOnStage = (o.ends ?? (gateway <= GATEWAY_DEFAULT_SHARE * limit ? 'gateway' : 'stage')) === 'stage';

  if (o.stages !== undefined) {
    const N = o.stages;
    const maxN = endsOnStage ? L + 1 : L;
    if (!Number.isInteger(N) || N < 1 || N > maxN) throw new PlanError(`--stages must be in [1, ${maxN}], got ${N}`);
    // Stage 0 holds the ends (if the gateway does not) and an even share of the layers when N ≤ L, the ends
    // alone when N = L + 1.
    const shares = N === L + 1 ? [0, ...Array<number>(L).fill(1)] : split(L, N);
    let at = 0;
    const plan = shares.map((n, k) => {
      const s = stage({ layers: n ? [at, at + n] : null, ends: endsOnStage && k === 0 });
      at += n;
      return s;
    });
    const over = plan.findIndex((s) => s.plannedBytes > limit);
    if (over >= 0)
      throw new PlanError(
        `with ${N} stages, stage ${over} needs ${mb(plan[over]!.plannedBytes)} for ${resident} × ${context} tokens (limit ${mb(limit)}); use more stages or --resident/--context lower`,
      );
    return plan;
  }
  const head = endsOnStage ? most(0, true) : 0;
  const rest = L - head;
  const per = most(head, false);
  if (rest > 0 && per === 0)
    throw new PlanError(
      `one layer with ${resident} × ${context} tokens of KV does not fit an isolate of ${mb(limit)}; lower --resident or --context`,
    );
  // A stage owning layers [a, b) runs segments a..b-1, i.e. the MLP of layer a-1 too, and the last stage also
  // runs segment n_layer: stages differ by one MLP, so the even split is checked and widened until all fit.
  for (let n = Math.ceil(rest / per); n <= rest; n++) {
    const plan = endsOnStage ? [stage({ layers: head ? [0, head] : null, ends: true })] : [];
    let at = head;
    for (const k of split(rest, n)) {
      plan.push(stage({ layers: [at, at + k], ends: false }));
      at += k;
    }
    if (plan.every((s) => s.plannedBytes <= limit)) return plan;
  }
  throw new PlanError(
    `no split of ${m.id} fits isolates of ${mb(limit)} with ${resident} × ${context} tokens; lower --resident or --context`,
  );
}

/** n items over k parts as evenly as possible, larger parts first. */
function split(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

export const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

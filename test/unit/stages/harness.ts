/**
 * The stage pipeline in one Node process, for the tests here: stage runtimes (worker/stage/part.ts) over a
 * converted model dir behind in-process clients that count their calls, StagedCausalLM over them, and the
 * readings the tests take (greedy logits, each stage's resident KV bytes).
 */
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import { argmax } from '../../../worker/generation/logits.ts';
import type { CausalLM } from '../../../worker/generation/types.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { loadStagedModel, type StageHops } from '../../../worker/model/staged-lm.ts';
import { createStageRuntime, type StageRuntime } from '../../../worker/stage/part.ts';
import type { StageClient } from '../../../worker/stage/protocol.ts';

export type Plan = { layers: [number, number] | null; ends: boolean; kvCapBytes?: number }[];

export interface Staged {
  /** A StagedCausalLM, or the StepScheduler over one when `batching` is given. */
  lm: CausalLM;
  runtimes: StageRuntime[];
  /** Calls each stage's client passed on (`chained`: steps that it was to pass on to the next stage). */
  calls: { step: number; head: number; chained: number }[];
}

/** One runtime per stage of `plan` over model `id` in the converted dir `out`, and the model over them. */
export async function stagedOver(
  out: string,
  id: string,
  plan: Plan,
  batching?: { maxBatchRows: number; lanes?: number },
  hops: StageHops = 'gateway',
  /** Which stage each stage passes a chained step on to (default: the next in the plan). */
  nextOf: (k: number) => number | undefined = (k) => (k + 1 < plan.length ? k + 1 : undefined),
): Promise<Staged> {
  const clients: StageClient[] = [];
  const runtimes = plan.map((p, stage) => {
    const next = nextOf(stage);
    return createStageRuntime(
      { stage, model: id, spec: { layers: p.layers, ends: p.ends }, ...(p.kvCapBytes ? { kvCapBytes: p.kvCapBytes } : {}) },
      fsBlobSource(out),
      nodeOrt,
      () => {},
      hops === 'chain' && next !== undefined ? () => clients[next]! : undefined,
    );
  });
  const calls = plan.map(() => ({ step: 0, head: 0, chained: 0 }));
  clients.push(
    ...runtimes.map((r, k): StageClient => ({
      load: () => r.load(),
      step: (q) => (calls[k]!.step++, q.next && calls[k]!.chained++, r.step(q)),
      head: (q) => (calls[k]!.head++, r.head(q)),
      apply: (o) => r.apply(o),
      stats: () => r.stats(),
    })),
  );
  const m = await loadStagedModel(fsBlobSource(out), id, clients, {
    log: () => {},
    runtime: nodeOrt,
    hops,
    ...(batching ? { batching } : {}),
  });
  return { lm: m.lm, runtimes, calls };
}

/** The logits of a greedy run: the prompt's last position, then `steps` steps; the cache is released. */
export async function greedy(lm: CausalLM, prompt: number[], steps: number): Promise<Float32Array[]> {
  let r = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last', capacity: prompt.length + steps });
  const logits = [r.logits];
  for (let i = 0; i < steps; i++) {
    r = await lm.forward({ inputIds: [[argmax(r.logits)]], cache: r.cache, logitsFor: 'last' });
    logits.push(r.logits);
  }
  lm.release(r.cache);
  return logits;
}

/** Each stage's resident KV bytes, once the queued release ops have flushed (-1 where stats fails). */
export async function residentBytes(runtimes: StageRuntime[]): Promise<number[]> {
  await Promise.resolve();
  const s = await Promise.all(runtimes.map((r) => r.stats()));
  return s.map((a) => (a.ok ? a.value.residentBytes : -1));
}

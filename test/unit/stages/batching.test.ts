/**
 * Continuous batching through the stage pipeline, in one Node process:
 * - a stage part runs several sequences' groups in one step (one layers.run), each row as in a step of its
 *   own, and admits them one by one: a group over the budget is refused alone, nothing reserved for it;
 * - StagedCausalLM.forwardBatchSettled makes one call per stage for all requests of a step, gives each its
 *   solo logits, and fails only the request a stage refused;
 * - behind the StepScheduler (what the gateway does when batching is configured), concurrent sequences
 *   share steps and each equals its solo run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import { argmax } from '../../../worker/generation/logits.ts';
import { StepScheduler } from '../../../worker/generation/scheduler.ts';
import type { CausalLM, ForwardRequest, ForwardResult } from '../../../worker/generation/types.ts';
import { loadModel } from '../../../worker/model/load-model.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { StageError, type StagedCausalLM, type StageHops } from '../../../worker/model/staged-lm.ts';
import { createStageRuntime, type StageRuntime } from '../../../worker/stage/part.ts';
import type { StageInfo, StageStepRequest, StageStepResult } from '../../../worker/stage/protocol.ts';
import { convertQuiet, maxAbsDiff, synth, tempDir } from '../../helpers/synth-fixtures.ts';
import { greedy, residentBytes, stagedOver, type Plan } from './harness.ts';

const tmp = tempDir('stage-batching');
const out = join(tmp.dir, 'out');
const ID = 'synth4b';
const E = 64;
let single: CausalLM;

function runtime(p: Plan[number], stage = 0): StageRuntime {
  const spec = { layers: p.layers, ends: p.ends };
  return createStageRuntime(
    { stage, model: ID, spec, ...(p.kvCapBytes ? { kvCapBytes: p.kvCapBytes } : {}) },
    fsBlobSource(out),
    nodeOrt,
    () => {},
  );
}

const THREE: Plan = [
  { layers: [0, 1], ends: true },
  { layers: [1, 3], ends: false },
  { layers: [3, 4], ends: false },
];

async function value<T>(a: Promise<{ ok: true; value: T } | { ok: false; code: string; message: string }>): Promise<T> {
  const r = await a;
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.value;
}

const info = (r: StageRuntime): Promise<StageInfo> => value(r.stats());
const step = (r: StageRuntime, req: Omit<StageStepRequest, 'ops'>): Promise<StageStepResult> => value(r.step({ ops: [], ...req }));

const resident = residentBytes;

const prompts = [
  [5, 17, 99, 3, 250, 42, 7],
  [11, 12, 13],
  [300, 1, 2, 3, 4, 5, 6, 7, 8, 9],
];

beforeAll(async () => {
  const ck = await synth(join(tmp.dir, 'ck'), { n_layer: 4, n_head: 4, n_embd: E, n_positions: 256, vocab_size: 400, initStd: 0.1 });
  await convertQuiet({ input: ck, out, id: ID, quant: 'fp32' });
  single = (await loadModel(fsBlobSource(out), ID, { runtime: nodeOrt(), log: () => {} })).lm;
}, 120_000);
afterAll(() => tmp.cleanup());

describe('a stage part: one step of several groups', () => {
  it("runs every group's rows in one call, each row bit for bit as in a step of its own; its stats count rows and groups", async () => {
    const [together, apart] = [runtime({ layers: [0, 2], ends: true }), runtime({ layers: [0, 2], ends: true })];
    // Three sequences of different past lengths (one of two rows), prefilled one by one on both runtimes.
    const seqs = [
      { seq: 'a', B: 1, ids: [prompts[0]!] },
      { seq: 'b', B: 2, ids: [prompts[1]!, [7, 8, 9]] },
      { seq: 'c', B: 1, ids: [prompts[2]!] },
    ];
    for (const r of [together, apart])
      for (const s of seqs) await step(r, { groups: [{ seq: s.seq, B: s.B, P: 0, capacity: 32 }], T: s.ids[0]!.length, ids: s.ids });
    const groups = seqs.map((s) => ({ seq: s.seq, B: s.B, P: s.ids[0]!.length }));
    const ids = [[1], [2], [3], [4]];
    const one = await step(together, { groups, T: 1, ids });
    const each: StageStepResult[] = [];
    let row = 0;
    for (const g of groups) {
      each.push(await step(apart, { groups: [g], T: 1, ids: ids.slice(row, row + g.B) }));
      row += g.B;
    }
    const cat = (rs: StageStepResult[], f: 'hidden' | 'attn') =>
      Float32Array.from(rs.flatMap((r) => (r.kind === 'state' ? [...r[f]!] : [])));
    expect(one.kind).toBe('state');
    expect(one.refused).toBeUndefined();
    for (const f of ['hidden', 'attn'] as const) {
      const a = cat([one], f);
      expect(a.length).toBe(4 * E);
      expect(maxAbsDiff(a, cat(each, f))).toBe(0);
    }
    const s = await info(together);
    expect(s.steps).toEqual({ calls: 4, groups: 6, rows: 8, maxRows: 4, passed: 0 });
    expect(s.sequences).toBe(3);
  });

  it('admits groups one by one: one over the budget is refused alone (nothing reserved for it), the others run', async () => {
    // Layers 0..1 hold 2 × 2 × 64 floats = 1 KiB per position per row; the cap is 128 positions.
    const r = runtime({ layers: [0, 2], ends: true, kvCapBytes: 128 * 1024 });
    const res = await step(r, {
      groups: [
        { seq: 'a', B: 1, P: 0, capacity: 64 },
        { seq: 'b', B: 1, P: 0, capacity: 128 },
        { seq: 'c', B: 1, P: 0, capacity: 64 },
      ],
      T: 3,
      ids: [prompts[1]!, prompts[1]!, [4, 5, 6]],
    });
    expect(res.refused?.map((x) => [x.group, x.failure.code])).toEqual([[1, 'overloaded']]);
    expect(res.refused![0]!.failure.retryAfter).toBeGreaterThan(0);
    expect(res.kind === 'state' && res.hidden.length).toBe(2 * 3 * E); // rows of a and c only
    let s = await info(r);
    expect([s.residentBytes, s.sequences]).toEqual([128 * 1024, 2]);
    // A sequence it does not hold is refused in its group; the group beside it runs.
    const next = await step(r, {
      groups: [
        { seq: 'b', B: 1, P: 3 },
        { seq: 'a', B: 1, P: 3 },
      ],
      T: 1,
      ids: [[1], [2]],
    });
    expect(next.refused?.map((x) => [x.group, x.failure.code])).toEqual([[0, 'unknown_sequence']]);
    expect(next.kind === 'state' && next.hidden.length).toBe(E);
    await r.apply([
      { op: 'release', seq: 'a' },
      { op: 'release', seq: 'c' },
    ]);
    s = await info(r);
    expect([s.residentBytes, s.sequences]).toEqual([0, 0]);
  });
});

const HOPS = ['gateway', 'chain'] as const;

describe.each(HOPS)('StagedCausalLM.forwardBatchSettled (%s hops)', (hops: StageHops) => {
  const staged = (plan: Plan) => stagedOver(out, ID, plan, undefined, hops);
  const decodeStep = async (lm: CausalLM) => {
    const pre = await Promise.all(prompts.map((p) => lm.forward({ inputIds: [p], cache: null, logitsFor: 'last', capacity: 32 })));
    return pre.map((r, i): ForwardRequest => ({ inputIds: [[argmax(r.logits) + i]], cache: r.cache, logitsFor: 'last' }));
  };

  it('makes one call per stage for every request of a step, and gives each request its solo logits', async () => {
    const { lm, runtimes: rs, calls } = await staged(THREE);
    const staged_ = lm as StagedCausalLM;
    const want = await Promise.all((await decodeStep(single)).map((r) => single.forward(r)));
    const reqs = await decodeStep(lm);
    for (const c of calls) [c.step, c.head] = [0, 0];
    const got = await staged_.forwardBatchSettled(reqs);
    expect(calls.map((c) => c.step)).toEqual([1, 1, 1]);
    expect(calls[0]!.head).toBe(1);
    expect(got.map((g) => g.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    const results = got.map((g) => (g as PromiseFulfilledResult<ForwardResult>).value);
    // The gateway's account of the stages' blocks is theirs: 64 positions (the 32 asked for, rounded up), 4 layers.
    const held = (await resident(rs)).reduce((a, b) => a + b, 0);
    expect(results.reduce((n, r) => n + staged_.cacheBytes(r.cache), 0)).toBe(held);
    expect(staged_.cacheBytes(results[0]!.cache)).toBe(64 * 4 * 2 * E * 4);
    expect(staged_.reserveBytes(1, 40)).toBe(64 * 4 * 2 * E * 4);
    for (const [i, r] of results.entries()) {
      expect(maxAbsDiff(r.logits, want[i]!.logits)).toBeLessThan(1e-5);
      expect(r.cache.length).toBe(prompts[i]!.length + 1);
      lm.release(r.cache);
      single.release(want[i]!.cache);
    }
    expect((await info(rs[1]!)).steps.maxRows).toBe(3);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });

  it('fails only the request a stage refuses (overloaded, Retry-After); the others get their logits; nothing stays resident', async () => {
    // Stage 1 (2 layers: 1 KiB per position per row) may hold 128 positions: the second request asks for 128 beside a 64.
    const { lm, runtimes: rs } = await staged([THREE[0]!, { ...THREE[1]!, kvCapBytes: 128 * 1024 }, THREE[2]!]);
    const staged_ = lm as StagedCausalLM;
    const p = prompts[0]!;
    const req = (capacity: number): ForwardRequest => ({ inputIds: [p], cache: null, logitsFor: 'last', capacity });
    const want = await single.forward(req(64));
    single.release(want.cache);
    const got = await staged_.forwardBatchSettled([req(64), req(128), req(64)]);
    // Stage 1 admits in order: 64 KiB, then 128 more is refused (nothing reserved for it), then 64 more fits.
    expect(got.map((g) => g.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (got[1] as PromiseRejectedResult).reason as StageError;
    expect(err).toBeInstanceOf(StageError);
    expect(err.code).toBe('overloaded');
    expect(err.retryAfter).toBeGreaterThan(0);
    expect(err.message).toMatch(/stage 1 .*at capacity/);
    for (const i of [0, 2]) {
      const r = (got[i] as PromiseFulfilledResult<ForwardResult>).value;
      expect(maxAbsDiff(r.logits, want.logits)).toBeLessThan(1e-5);
      lm.release(r.cache);
    }
    expect(await resident(rs)).toEqual([0, 0, 0]); // the refused sequence is released on stage 0 too
  });

  it("forwardBatch (the scheduler's contract: a failure fails the step) throws the refusal and releases the others", async () => {
    const { lm, runtimes: rs } = await staged([THREE[0]!, { ...THREE[1]!, kvCapBytes: 128 * 1024 }, THREE[2]!]);
    const req = (capacity: number): ForwardRequest => ({ inputIds: [prompts[0]!], cache: null, logitsFor: 'last', capacity });
    const err = await (lm as StagedCausalLM).forwardBatch([req(64), req(128)]).catch((e: unknown) => e);
    expect((err as StageError).code).toBe('overloaded');
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });
});

describe.each(HOPS)('the StepScheduler over a staged model (the gateway with batching configured; %s hops)', (hops: StageHops) => {
  const staged = (plan: Plan, batching: { maxBatchRows: number; lanes?: number }) => stagedOver(out, ID, plan, batching, hops);
  it('concurrent sequences share steps (rows per stage call > 1.5) and each equals its solo run (one lane)', async () => {
    const { lm, runtimes: rs, calls } = await staged(THREE, { maxBatchRows: 16, lanes: 1 });
    expect(lm).toBeInstanceOf(StepScheduler);
    const solo = await Promise.all(prompts.map((p) => greedy(single, p, 8)));
    const together = await Promise.all(prompts.map((p) => greedy(lm, p, 8)));
    for (const [i, s] of solo.entries()) for (const [t, l] of s.entries()) expect(maxAbsDiff(l, together[i]![t]!)).toBeLessThan(1e-5);
    const s = await info(rs[2]!);
    expect(s.steps.rows / s.steps.calls).toBeGreaterThan(1.5);
    expect(s.steps.maxRows).toBe(3);
    expect((lm as StepScheduler).stats.maxRows).toBe(3);
    expect(calls[2]!.step).toBe(s.steps.calls);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });

  it('with two lanes (the default) the sequences go in two cohorts, and each still equals its solo run', async () => {
    const { lm, runtimes: rs } = await staged(THREE, { maxBatchRows: 16 });
    const four = [...prompts, prompts[0]!.slice(1)];
    const solo = await Promise.all(four.map((p) => greedy(single, p, 8)));
    const together = await Promise.all(four.map((p) => greedy(lm, p, 8)));
    for (const [i, s] of solo.entries()) for (const [t, l] of s.entries()) expect(maxAbsDiff(l, together[i]![t]!)).toBeLessThan(1e-5);
    const s = await info(rs[2]!);
    expect(s.steps.maxRows).toBe(2); // ceil(4 / 2): never all four in one step
    expect((lm as StepScheduler).stats.maxRows).toBe(2);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });
  it('two lanes with tiled requests (selectRows, as num_return_sequences does): each row equals its solo run', async () => {
    const { lm, runtimes: rs } = await staged(THREE, { maxBatchRows: 16 });
    // A prompt, its cache tiled into n rows, then greedy steps: row r adds r to its token (rows differ).
    const tiled = async (m: CausalLM, p: number[], n: number) => {
      const first = await m.forward({ inputIds: [p], cache: null, logitsFor: 'last', capacity: p.length + 6 });
      let cache = m.selectRows(first.cache, Array<number>(n).fill(0));
      m.release(first.cache);
      let ids = Array.from({ length: n }, (_, r) => [argmax(first.logits) + r]);
      const seen: number[][] = [];
      for (let t = 0; t < 5; t++) {
        const r = await m.forward({ inputIds: ids, cache, logitsFor: 'last' });
        cache = r.cache;
        ids = ids.map((_, row) => [argmax(r.logits.subarray(row * 400, (row + 1) * 400))]);
        seen.push(ids.map((x) => x[0]!));
      }
      m.release(cache);
      return seen;
    };
    const solo = [];
    for (const [i, p] of prompts.entries()) solo.push(await tiled(single, p, i + 1));
    const together = await Promise.all(prompts.map((p, i) => tiled(lm, p, i + 1)));
    expect(together).toEqual(solo);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });
});

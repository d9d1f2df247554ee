/**
 * The stage pipeline in one Node process: three stage runtimes (worker/stage/part.ts) behind in-process
 * clients, driven by StagedCausalLM, against HostCausalLM over the same manifest — same logits (fp32: the
 * same ORT segments and kernels on the same inputs, so within 1e-5), the contract's selectRows/release,
 * chunked prefill, admission against the stage budget, a reset stage, and no KV bytes left behind.
 * The same code runs in real workerd, one isolate per stage, in test/stages/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import type { CausalLM } from '../../../worker/generation/types.ts';
import { loadModel } from '../../../worker/model/load-model.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { opsFor, StageError, type StagedCausalLM, type StageHops } from '../../../worker/model/staged-lm.ts';
import type { StageOp } from '../../../worker/stage/protocol.ts';
import { STAGE_CHUNK } from '../../../worker/stage/budget.ts';
import { convertQuiet, maxAbsDiff, synth, tempDir } from '../../helpers/synth-fixtures.ts';
import { greedy, residentBytes, stagedOver, type Plan } from './harness.ts';

const tmp = tempDir('stages');
const out = join(tmp.dir, 'out');
const ID = 'synth4';
const INT8 = 'synth4-int8';
let single: CausalLM;
let singleInt8: CausalLM;

const resident = residentBytes;

beforeAll(async () => {
  const ck = await synth(join(tmp.dir, 'ck'), { n_layer: 4, n_head: 4, n_embd: 64, n_positions: 256, vocab_size: 400, initStd: 0.1 });
  await convertQuiet({ input: ck, out, id: ID, quant: 'fp32' });
  await convertQuiet({ input: ck, out, id: INT8, quant: 'int8' }); // kernel segments, the int8 default
  single = (await loadModel(fsBlobSource(out), ID, { runtime: nodeOrt(), log: () => {} })).lm;
  singleInt8 = (await loadModel(fsBlobSource(out), INT8, { runtime: nodeOrt(), log: () => {} })).lm;
}, 120_000);
afterAll(() => tmp.cleanup());

describe.each(['gateway', 'chain'] as const)('StagedCausalLM over three stage runtimes (%s hops)', (hops: StageHops) => {
  const prompt = [5, 17, 99, 3, 250, 42, 7];
  const staged = (plan: Plan, id = ID) => stagedOver(out, id, plan, undefined, hops);
  const THREE: Plan = [
    { layers: [0, 1], ends: true },
    { layers: [1, 3], ends: false },
    { layers: [3, 4], ends: false },
  ];

  it('gives the single-isolate logits at every greedy step (fp32, 1e-5), and leaves no KV bytes behind', async () => {
    const { lm, runtimes: rs } = await staged(THREE);
    const a = await greedy(single, prompt, 6);
    const b = await greedy(lm, prompt, 6);
    for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!, b[i]!)).toBeLessThan(1e-5);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });

  it('works with an ends-only first stage and the head inline in a one-stage plan', async () => {
    const a = await greedy(single, prompt, 3);
    for (const plan of [
      [
        { layers: null, ends: true },
        { layers: [0, 2], ends: false },
        { layers: [2, 4], ends: false },
      ],
      [{ layers: [0, 4], ends: true }],
    ] as const) {
      const { lm } = await staged(plan.map((p) => ({ ...p, layers: p.layers ? ([...p.layers] as [number, number]) : null })));
      const b = await greedy(lm, prompt, 3);
      for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!, b[i]!)).toBeLessThan(1e-5);
    }
  });

  it('tiles a prefill with selectRows and decodes rows independently; scores every position', async () => {
    const { lm, runtimes: rs } = await staged(THREE);
    const run = async (m: CausalLM) => {
      const p = await m.forward({ inputIds: [prompt], cache: null, logitsFor: 'all' });
      const tiled = m.selectRows(p.cache, [0, 0, 0]);
      m.release(p.cache);
      const d = await m.forward({ inputIds: [[1], [2], [3]], cache: tiled, logitsFor: 'last' });
      const two = m.selectRows(d.cache, [2, 0]);
      m.release(d.cache);
      const e = await m.forward({ inputIds: [[4], [5]], cache: two, logitsFor: 'last' });
      m.release(e.cache);
      return [p.logits, d.logits, e.logits];
    };
    const a = await run(single);
    const b = await run(lm);
    for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!, b[i]!)).toBeLessThan(1e-5);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });

  it('cuts a long prompt into chunks of STAGE_CHUNK positions (same logits within 1e-4)', async () => {
    const { lm } = await staged([
      { layers: [0, 2], ends: true },
      { layers: [2, 4], ends: false },
    ]);
    const long = Array.from({ length: STAGE_CHUNK * 2 + 9 }, (_, i) => (i * 37) % 400);
    const a = await single.forward({ inputIds: [long], cache: null, logitsFor: 'all', hidden: true });
    const b = await lm.forward({ inputIds: [long], cache: null, logitsFor: 'all', hidden: true });
    expect(b.positions).toBe(long.length);
    expect(maxAbsDiff(a.logits, b.logits)).toBeLessThan(1e-4);
    expect(maxAbsDiff(a.hidden!, b.hidden!)).toBeLessThan(1e-4);
    single.release(a.cache);
    lm.release(b.cache);
  });

  it('int8 kernel segments: staged equals one isolate bit for bit, long chunked prompts and greedy steps included', async () => {
    // Every position is quantized on its own, so neither the stage split nor STAGE_CHUNK changes the arithmetic.
    const { lm } = await staged(
      [
        { layers: [0, 1], ends: true },
        { layers: [1, 3], ends: false },
        { layers: [3, 4], ends: false },
      ],
      INT8,
    );
    const long = Array.from({ length: STAGE_CHUNK * 2 + 9 }, (_, i) => (i * 37) % 400);
    const a = await singleInt8.forward({ inputIds: [long], cache: null, logitsFor: 'all', hidden: true });
    const b = await lm.forward({ inputIds: [long], cache: null, logitsFor: 'all', hidden: true });
    expect(b.logits).toEqual(a.logits);
    expect(b.hidden).toEqual(a.hidden);
    singleInt8.release(a.cache);
    lm.release(b.cache);
    const x = await greedy(singleInt8, prompt, 6);
    const y = await greedy(lm, prompt, 6);
    for (let i = 0; i < x.length; i++) expect(y[i]).toEqual(x[i]);
  });

  it('refuses a sequence over a stage budget (overloaded, with Retry-After), and admits it once memory is free', async () => {
    // Stage 1 (2 layers × 2 × 64 floats = 1 KiB per position) may hold 128 positions.
    const { lm, runtimes: rs } = await staged([
      { layers: [0, 1], ends: true },
      { layers: [1, 3], ends: false, kvCapBytes: 128 * 1024 },
      { layers: [3, 4], ends: false },
    ]);
    const first = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last', capacity: 128 });
    const err = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last', capacity: 64 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageError);
    expect((err as StageError).code).toBe('overloaded');
    expect((err as StageError).retryAfter).toBeGreaterThan(0);
    expect((err as StageError).message).toMatch(/stage 1 .*at capacity/);
    lm.release(first.cache);
    const again = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last', capacity: 64 });
    lm.release(again.cache);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });

  it('a reset stage ends the sequences it held with unknown_sequence; new sequences work', async () => {
    const { lm, runtimes: rs } = await staged(THREE);
    const p = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last' });
    rs[2]!.reset();
    const err = await lm.forward({ inputIds: [[1]], cache: p.cache, logitsFor: 'last' }).catch((e: unknown) => e);
    expect((err as StageError).code).toBe('unknown_sequence');
    const a = await greedy(single, prompt, 2);
    const b = await greedy(lm, prompt, 2);
    for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!, b[i]!)).toBeLessThan(1e-5);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });

  it('a stage whose isolate is gone mid-request fails that request with stage_failed naming it; the next request works', async () => {
    const { lm, runtimes: rs } = await staged(THREE);
    const p = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last' });
    const step = rs[2]!.step;
    rs[2]!.step = () => Promise.reject(new Error('the isolate was reset'));
    const err = await lm.forward({ inputIds: [[1]], cache: p.cache, logitsFor: 'last' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageError);
    expect((err as StageError).code).toBe('stage_failed');
    expect((err as StageError).message).toMatch(/^stage 2 failed during the request/);
    rs[2]!.step = step;
    const a = await greedy(single, prompt, 2);
    const b = await greedy(lm, prompt, 2);
    for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!, b[i]!)).toBeLessThan(1e-5);
    expect(await resident(rs)).toEqual([0, 0, 0]);
  });

  it('rejects a plan that does not cover the layers', async () => {
    await expect(
      staged([
        { layers: [0, 1], ends: true },
        { layers: [2, 4], ends: false },
      ]),
    ).rejects.toThrow(/layers 1\.\. are not covered/);
    await expect(
      staged([
        { layers: [0, 2], ends: true },
        { layers: [2, 4], ends: true },
      ]),
    ).rejects.toThrow(/at most one stage may hold the embedding/);
    await expect(
      staged([
        { layers: [1, 2], ends: false },
        { layers: [2, 4], ends: false },
      ]),
    ).rejects.toThrow(/layers 0\.\. are not covered/);
  });

  it('with the embedding and head in the gateway (no stage holds them): the same logits, one call per stage per step', async () => {
    const plan: Plan = [
      { layers: [0, 1], ends: false },
      { layers: [1, 3], ends: false },
      { layers: [3, 4], ends: false },
    ];
    const { lm, runtimes: rs, calls } = await staged(plan);
    const a = await greedy(single, prompt, 6);
    const b = await greedy(lm, prompt, 6);
    for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!, b[i]!)).toBeLessThan(1e-5);
    // The prompt and six steps; no head calls. Chained, stages 0 and 1 pass each step on.
    expect(calls).toEqual(plan.map((_, k) => ({ step: 7, head: 0, chained: hops === 'chain' && k < 2 ? 7 : 0 })));
    expect(await resident(rs)).toEqual([0, 0, 0]);

    // int8: bit for bit, a long chunked prompt (every position scored) and greedy steps.
    const q = await staged(plan, INT8);
    const long = Array.from({ length: STAGE_CHUNK * 2 + 9 }, (_, i) => (i * 37) % 400);
    const x = await singleInt8.forward({ inputIds: [long], cache: null, logitsFor: 'all', hidden: true });
    const y = await q.lm.forward({ inputIds: [long], cache: null, logitsFor: 'all', hidden: true });
    expect(y.logits).toEqual(x.logits);
    expect(y.hidden).toEqual(x.hidden);
    singleInt8.release(x.cache);
    q.lm.release(y.cache);
    const g1 = await greedy(singleInt8, prompt, 6);
    const g2 = await greedy(q.lm, prompt, 6);
    for (let i = 0; i < g1.length; i++) expect(g2[i]).toEqual(g1[i]);
  });
});

describe('chained hops', () => {
  const prompt = [5, 17, 99, 3, 250, 42, 7];
  const plan: Plan = [
    { layers: [0, 1], ends: false },
    { layers: [1, 3], ends: false },
    { layers: [3, 4], ends: false },
  ];

  it('a chain wired out of order (stage 0 passes to stage 2) fails loudly instead of skipping layers', async () => {
    const { lm } = await stagedOver(out, ID, plan, undefined, 'chain', (k) => (k < 2 ? 2 : undefined));
    const err = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageError);
    expect((err as StageError).message).toMatch(/stage 2 \(layers 3\.\.3\) was sent a step for layer 1: .*chained out of order/);
  });

  it('is refused at load when a stage cannot pass steps on (no NEXT_STAGE), and is the default where every stage can', async () => {
    await expect(stagedOver(out, ID, plan, undefined, 'chain', (k) => (k === 0 ? 1 : undefined))).rejects.toThrow(
      /chained hops need a NEXT_STAGE binding on every stage but the last; stage\(s\) 1 have none/,
    );
    const { lm } = await stagedOver(out, ID, plan, undefined, 'chain');
    expect((lm as StagedCausalLM).hops).toBe('chain');
  });
});

describe('opsFor (which queued ops go with a chained step)', () => {
  const sel = (from: string, to: string): StageOp => ({ op: 'select', from, to, rows: [0, 0] });
  const rel = (seq: string): StageOp => ({ op: 'release', seq });

  it("sends a select with the step of the sequence it creates, and holds back the source's release behind it", () => {
    const q = [rel('a'), sel('x', 'y'), rel('x'), rel('b')];
    expect(opsFor(q, new Set(['z']))).toEqual({ send: [rel('a'), rel('b')], keep: [sel('x', 'y'), rel('x')] });
    expect(opsFor(q, new Set(['y', 'z']))).toEqual({ send: q, keep: [] });
  });

  it('sends a select whose sequence was released before any step used it, with that release (a request that ended)', () => {
    const q = [sel('x', 'y'), rel('x'), rel('y')];
    expect(opsFor(q, new Set())).toEqual({ send: q, keep: [] });
  });

  it('holds a select from a sequence whose own select is held back', () => {
    const q = [sel('x', 'y'), sel('y', 'w')];
    expect(opsFor(q, new Set(['w']))).toEqual({ send: [], keep: q });
  });
});

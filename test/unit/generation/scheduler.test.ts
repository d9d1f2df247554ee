/**
 * StepScheduler over a fake batched model (FakeLM's caches record each row's history, so a row mixed up
 * between requests changes its logits): concurrent generations share steps and each still gets exactly
 * the events it gets alone; prefill and decode alternate; the batch bound, admission by KV bytes,
 * cancellation and failures behave as the header of worker/generation/scheduler.ts says.
 */
import { describe, expect, it } from 'vitest';
import { CapacityError } from '../../../worker/generation/errors.ts';
import { defaultParams, generate, type GenerationEvent, type GenerationParams } from '../../../worker/generation/index.ts';
import { StepScheduler, type SchedulerOptions } from '../../../worker/generation/scheduler.ts';
import type { BatchedCausalLM, ForwardRequest, ForwardResult, KVCache } from '../../../worker/generation/types.ts';
import { collect, FakeLM, FakeTokenizer, hashLogits } from './fakes.ts';

const tok = new FakeTokenizer();
const V = tok.vocabSize;
const BYTES_PER_POSITION = 100;

/** FakeLM as a BatchedCausalLM: a step's requests run one after another, and each step's shape is recorded. */
class FakeBatchedLM implements BatchedCausalLM {
  readonly steps: { rows: number; seq: number }[] = [];
  readonly inner: FakeLM;
  failNext = false;
  /** Steps running now, and the most that ever ran at once (lanes). */
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    nPositions = 256,
    /** ms each step takes (a macrotask), so that other requests can arrive during it. */
    private readonly stepMs = 0,
  ) {
    this.inner = new FakeLM(hashLogits(V, 7), { vocabSize: V, nPositions });
  }
  get config() {
    return this.inner.config;
  }
  forward(req: ForwardRequest): Promise<ForwardResult> {
    return this.forwardBatch([req]).then((r) => r[0]!);
  }
  async forwardBatch(reqs: readonly ForwardRequest[]): Promise<ForwardResult[]> {
    this.steps.push({ rows: reqs.reduce((n, r) => n + r.inputIds.length, 0), seq: reqs[0]!.inputIds[0]!.length });
    if (this.failNext) {
      this.failNext = false;
      for (const r of reqs) if (r.cache) this.inner.release(r.cache);
      throw new Error('model failed');
    }
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      if (this.stepMs) await new Promise((r) => setTimeout(r, this.stepMs));
      const out: ForwardResult[] = [];
      for (const r of reqs) out.push(await this.inner.forward(r));
      return out;
    } finally {
      this.inFlight--;
    }
  }
  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    return this.inner.selectRows(cache, rows);
  }
  release(cache: KVCache): void {
    this.inner.release(cache);
  }
  cacheBytes(cache: KVCache): number {
    return cache.batch * cache.length * BYTES_PER_POSITION;
  }
  reserveBytes(rows: number, positions: number): number {
    return rows * positions * BYTES_PER_POSITION;
  }
}

const params = (p: Partial<GenerationParams> = {}): GenerationParams => ({ ...defaultParams(), stopOnEos: false, ...p });
const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 31 + salt * 17) % (V - 1));

/** A mix of requests: different prompt lengths, budgets, sampling, several sequences. */
const MIX: { ids: number[]; p: GenerationParams }[] = [
  { ids: prompt(3, 1), p: params({ maxNewTokens: 12 }) },
  { ids: prompt(9, 2), p: params({ maxNewTokens: 7, doSample: true, seed: 11, temperature: 0.8, topK: 5 }) },
  { ids: prompt(1, 3), p: params({ maxNewTokens: 20, doSample: true, seed: 5, numSequences: 3 }) },
  { ids: prompt(40, 4), p: params({ maxNewTokens: 4, topLogprobs: 2 }) },
  { ids: prompt(5, 5), p: params({ maxNewTokens: 15, repetitionPenalty: 1.3 }) },
  { ids: prompt(17, 6), p: params({ maxNewTokens: 9, doSample: true, seed: 99, topP: 0.7 }) },
  { ids: prompt(2, 7), p: params({ maxNewTokens: 1 }) },
  { ids: prompt(12, 8), p: params({ maxNewTokens: 11, doSample: true, seed: 3, numSequences: 2 }) },
];

const run = (lm: BatchedCausalLM | StepScheduler, r: (typeof MIX)[number]): Promise<GenerationEvent[]> =>
  collect(generate(lm, tok, r.ids, r.p));

describe('StepScheduler', () => {
  it.each([2, 5, 8])('%i concurrent requests share steps and each gets exactly its solo events', async (n) => {
    const mix = MIX.slice(0, n);
    const solo = await Promise.all(mix.map((r) => run(new FakeBatchedLM(), r)));
    const model = new FakeBatchedLM();
    const s = new StepScheduler(model);
    const together = await Promise.all(mix.map((r) => run(s, r)));
    expect(together).toEqual(solo);
    const decodeSteps = model.steps.filter((x) => x.seq === 1);
    expect(Math.max(...decodeSteps.map((x) => x.rows))).toBeGreaterThan(mix[0]!.p.numSequences); // rows of several requests in one step
    expect(model.inner.liveCaches).toBe(0);
    expect(s.stats.reservedBytes).toBe(0);
    expect(s.stats.sequences).toBe(0);
  });

  it('with one lane, never runs two steps at once', async () => {
    const shared = new FakeBatchedLM(256, 1);
    const s = new StepScheduler(shared);
    await Promise.all(MIX.slice(0, 4).map((r) => run(s, r)));
    expect(shared.maxInFlight).toBe(1);
  });

  it.each([2, 3])(
    'with %i lanes, overlaps that many steps, splits the streams into cohorts, and each gets its solo events',
    async (lanes) => {
      const mix = [0, 1, 2, 3, 4, 5].map((k) => ({
        ids: prompt(3 + k, k),
        p: params({ maxNewTokens: 16, doSample: k % 2 === 1, seed: k }),
      }));
      const solo = await Promise.all(mix.map((r) => run(new FakeBatchedLM(), r)));
      const model = new FakeBatchedLM(256, 2);
      const s = new StepScheduler(model, { lanes });
      const together = await Promise.all(mix.map((r) => run(s, r)));
      expect(together).toEqual(solo);
      expect(model.maxInFlight).toBe(lanes);
      const decode = model.steps.filter((x) => x.seq === 1).map((x) => x.rows);
      expect(Math.max(...decode)).toBeLessThanOrEqual(Math.ceil(mix.length / lanes));
      expect(Math.max(...decode)).toBeGreaterThan(1); // still batched within a cohort
      expect(model.inner.liveCaches).toBe(0);
      expect(s.stats.reservedBytes).toBe(0);
    },
  );

  it('refuses lanes below 1', () => {
    expect(() => new StepScheduler(new FakeBatchedLM(), { lanes: 0 })).toThrow(RangeError);
  });

  it('a step that ends without answering a request fails that request instead of leaving it waiting', async () => {
    // A broken model: a step of two requests answers only the first.
    class Short extends FakeBatchedLM {
      override async forwardBatch(reqs: readonly ForwardRequest[]): Promise<ForwardResult[]> {
        return (await super.forwardBatch(reqs)).slice(0, 1);
      }
    }
    const s = new StepScheduler(new Short());
    const step = (salt: number) => s.forward({ inputIds: [[salt]], cache: null, logitsFor: 'last' });
    const settled = await Promise.allSettled([step(1), step(2)]);
    const reasons = settled.map((r) => (r.status === 'rejected' ? String(r.reason) : 'fulfilled'));
    // The request that ran the step sees the model's failure; the one it left unanswered is failed, not left
    // waiting on a step that no longer exists.
    expect(reasons.some((r) => /lost this request/.test(r))).toBe(true);
  });

  it('never puts more than maxBatchRows rows in a step, and every request still finishes', async () => {
    const model = new FakeBatchedLM();
    const s = new StepScheduler(model, { maxBatchRows: 4 });
    const out = await Promise.all(MIX.map((r) => run(s, r)));
    expect(out.every((events) => events.some((e) => e.type === 'done'))).toBe(true);
    expect(Math.max(...model.steps.map((x) => x.rows))).toBeLessThanOrEqual(4);
  });

  it('alternates prefill chunks with decode steps, so running streams keep flowing', async () => {
    const model = new FakeBatchedLM(1024, 1);
    const s = new StepScheduler(model);
    const running = run(s, { ids: prompt(2, 1), p: params({ maxNewTokens: 30 }) });
    await new Promise((r) => setTimeout(r, 5)); // the first stream is decoding
    const long = run(s, { ids: prompt(3 * 128, 2), p: params({ maxNewTokens: 2 }) }); // three prefill chunks
    await Promise.all([running, long]);
    const shapes = model.steps.map((x) => (x.seq > 1 ? 'P' : 'D')).join('');
    const from = shapes.indexOf('P', 1); // the long prompt's chunks (the first step is the short prefill)
    expect(shapes.slice(from, from + 5)).toBe('PDPDP');
  });

  it('refuses a sequence over the KV budget with CapacityError, admits one alone, and frees on release', async () => {
    const model = new FakeBatchedLM();
    // Each request reserves rows × (prompt + new) positions × 100 bytes: 1 × 20 × 100 = 2000.
    const s = new StepScheduler(model, { kvBudgetBytes: 3000, retryAfterS: 2 });
    const big = { ids: prompt(10, 1), p: params({ maxNewTokens: 10 }) };
    const alone = new StepScheduler(new FakeBatchedLM(), { kvBudgetBytes: 10 });
    await expect(run(alone, big)).resolves.toBeTruthy(); // a sequence alone is always admitted
    const first = run(s, big);
    const refused = await run(s, big).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(CapacityError);
    expect((refused as CapacityError).retryAfterS).toBe(2);
    expect(s.stats.refused).toBe(1);
    await first;
    expect(s.stats.reservedBytes).toBe(0);
    await expect(run(s, big)).resolves.toBeTruthy(); // room again once the first has left
  });

  it('reserves num_return_sequences rows up front', async () => {
    const s = new StepScheduler(new FakeBatchedLM(), { kvBudgetBytes: 10_000 });
    const seen: number[] = [];
    const gen = generate(s, tok, prompt(4, 1), params({ maxNewTokens: 6, numSequences: 5 }), {
      onStep: () => seen.push(s.stats.reservedBytes),
    });
    await collect(gen);
    expect(seen[0]).toBe(5 * 10 * BYTES_PER_POSITION);
  });

  it('a cancelled request leaves at the next step; the others are unchanged', async () => {
    const solo = await run(new FakeBatchedLM(), MIX[0]!);
    const model = new FakeBatchedLM();
    const s = new StepScheduler(model);
    const ctl = new AbortController();
    let steps = 0;
    const cancelled = collect(
      generate(s, tok, prompt(6, 9), params({ maxNewTokens: 50 }), { signal: ctl.signal, onStep: () => ++steps === 3 && ctl.abort() }),
    );
    const other = run(s, MIX[0]!);
    const [c, o] = await Promise.all([cancelled, other]);
    expect(o).toEqual(solo);
    expect(c.filter((e) => e.type === 'token').length).toBeLessThan(5);
    expect(model.inner.liveCaches).toBe(0);
    expect(s.stats.reservedBytes).toBe(0);
  });

  it('rejects a bad request before it reaches a shared step; a failed step fails its requests only', async () => {
    const model = new FakeBatchedLM();
    const s = new StepScheduler(model);
    await expect(s.forward({ inputIds: [[V + 5]], cache: null, logitsFor: 'last' })).rejects.toThrow(/token ids/);
    expect(model.steps).toHaveLength(0);
    model.failNext = true;
    await expect(run(s, MIX[0]!)).rejects.toThrow('model failed');
    expect(s.stats.reservedBytes).toBe(0);
    await expect(run(s, MIX[1]!)).resolves.toEqual(await run(new FakeBatchedLM(), MIX[1]!));
  });

  it('charges each request its rows share of a shared step', async () => {
    let t = 0;
    const opts: SchedulerOptions = { now: () => (t += 10) }; // every step reads 10 ms
    const s = new StepScheduler(new FakeBatchedLM(), opts);
    const costs: number[] = [];
    const a = s.forward({ inputIds: [[1]], cache: null, logitsFor: 'last' });
    const b = s.forward({ inputIds: [[2], [3], [4]], cache: null, logitsFor: 'last' });
    for (const r of await Promise.all([a, b])) {
      costs.push(r.costMs!);
      s.release(r.cache);
    }
    expect(costs).toEqual([2.5, 7.5]);
  });
});

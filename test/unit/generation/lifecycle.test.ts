/**
 * How a generation ends: abort, early return(), model errors, CPU budget, prompt-only scoring. In
 * every case the KV caches are released (FakeLM.liveCaches counts caches neither consumed nor released).
 */
import { describe, expect, it } from 'vitest';
import {
  defaultParams,
  generate,
  GenerationError,
  type CausalLM,
  type GenerationEvent,
  type GenerationParams,
} from '../../../worker/generation/index.ts';
import { collect, FakeLM, FakeTokenizer, hashLogits, scriptedLogits } from './fakes.ts';
import { argmax } from '../../../worker/generation/logits.ts';
import { PREFILL_CHUNK, PROMPT_CHUNK } from '../../../worker/generation/prompt.ts';

const tok = new FakeTokenizer();
const V = tok.vocabSize;
const params = (p: Partial<GenerationParams> = {}): GenerationParams => ({ ...defaultParams(), stopOnEos: false, ...p });
const logits = hashLogits(V, 7);
const types = (events: GenerationEvent[]) => events.map((e) => e.type);

describe('generate: cancellation and cleanup', () => {
  it('abort mid-stream stops within one step, sends nothing more and releases the cache', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    const ac = new AbortController();
    const steps: number[] = [];
    const seen: GenerationEvent[] = [];
    for await (const e of generate(lm, tok, [1, 2], params({ maxNewTokens: 50 }), {
      signal: ac.signal,
      onStep: (s) => steps.push(s.step),
    })) {
      seen.push(e);
      if (seen.length === 3) ac.abort();
    }
    expect(types(seen)).toEqual(['token', 'token', 'token']); // no done after an abort
    expect(lm.stats.forwards).toHaveLength(3); // prefill + the 2 steps that produced tokens 2 and 3
    expect(steps).toEqual([0, 1, 2]);
    expect(lm.liveCaches).toBe(0);
  });

  it('abort during a forward ends after that forward without events', async () => {
    const ac = new AbortController();
    const lm = new FakeLM(logits, { vocabSize: V }, (_req, call) => {
      if (call === 2) ac.abort();
    });
    const events = await collect(
      generate(lm, tok, [1], params({ maxNewTokens: 50, numSequences: 2, doSample: true }), { signal: ac.signal }),
    );
    expect(types(events)).toEqual(['token', 'token', 'token', 'token']); // steps 0 and 1, two sequences
    expect(lm.stats.forwards).toHaveLength(3);
    expect(lm.liveCaches).toBe(0);
  });

  it('an already aborted signal does no work', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    const ac = new AbortController();
    ac.abort();
    expect(await collect(generate(lm, tok, [1], params(), { signal: ac.signal }))).toEqual([]);
    expect(lm.stats.forwards).toHaveLength(0);
  });

  it('return() from the consumer (break) releases the cache', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    let n = 0;
    for await (const e of generate(lm, tok, [1], params({ maxNewTokens: 50, numSequences: 3, doSample: true }))) {
      void e;
      if (++n === 5) break;
    }
    expect(lm.stats.forwards.length).toBeLessThanOrEqual(2);
    expect(lm.stats.created).toBeGreaterThan(1);
    expect(lm.liveCaches).toBe(0);
  });

  it('a model error propagates and the cache is still released', async () => {
    const lm = new FakeLM(logits, { vocabSize: V }, (_req, call) => {
      if (call === 3) throw new Error('session run failed');
    });
    const seen: GenerationEvent[] = [];
    await expect(async () => {
      for await (const e of generate(lm, tok, [1], params({ maxNewTokens: 10 }))) seen.push(e);
    }).rejects.toThrow('session run failed');
    expect(seen).toHaveLength(3);
    expect(lm.liveCaches).toBe(0);
  });

  it('a model returning the wrong shape is a GenerationError, not garbage text', async () => {
    const fake = new FakeLM(logits, { vocabSize: V });
    const lm: CausalLM = {
      config: fake.config,
      selectRows: (c, r) => fake.selectRows(c, r),
      release: (c) => fake.release(c),
      forward: async (req) => ({ ...(await fake.forward(req)), logits: new Float32Array(3) }),
    };
    await expect(collect(generate(lm, tok, [1], params()))).rejects.toMatchObject({ name: 'GenerationError', code: 'model_output' });
    expect(fake.liveCaches).toBe(0);
  });

  it('rejects parameters the loop cannot run with', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    for (const bad of [{ numSequences: 0 }, { topP: 0 }, { temperature: -1 }, { maxNewTokens: 1.5 }, { seed: Number.NaN }]) {
      await expect(collect(generate(lm, tok, [1], params(bad)))).rejects.toBeInstanceOf(GenerationError);
    }
    expect(lm.stats.forwards).toHaveLength(0);
  });
});

describe('generate: concurrency', () => {
  it('interleaved generations over one model keep their own state and tokens', async () => {
    const run = (lm: FakeLM, prompt: number[], seed: number) =>
      generate(lm, tok, prompt, params({ maxNewTokens: 8, doSample: true, seed, numSequences: 2, stop: ['e'] }));
    const alone = [
      await collect(run(new FakeLM(logits, { vocabSize: V }), [1, 2], 1)),
      await collect(run(new FakeLM(logits, { vocabSize: V }), [3], 2)),
    ];
    const shared = new FakeLM(logits, { vocabSize: V });
    const gens = [run(shared, [1, 2], 1), run(shared, [3], 2)];
    const got: GenerationEvent[][] = [[], []];
    // Step both generators in lockstep, as two requests awaiting one model would.
    for (let open = [true, true]; open.some(Boolean);) {
      const results = await Promise.all(
        gens.map((g, i) => (open[i] ? g.next() : Promise.resolve({ done: true as const, value: undefined }))),
      );
      results.forEach((r, i) => {
        if (r.done) open[i] = false;
        else got[i]!.push(r.value);
      });
    }
    expect(got).toEqual(alone);
    expect(shared.liveCaches).toBe(0);
  });
});

describe('generate: prompt scoring and edge cases', () => {
  it('max_new_tokens = 0 with prompt logprobs: a prompt event, then done with 0 tokens', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    const prompt = [5, 9, 260, 7];
    const events = await collect(
      generate(lm, tok, prompt, params({ maxNewTokens: 0, promptLogprobs: true, topLogprobs: 2, numSequences: 2 })),
    );
    expect(types(events)).toEqual(['prompt', 'done', 'done']);
    const prompted = events[0] as Extract<GenerationEvent, { type: 'prompt' }>;
    expect(prompted.tokens.map((t) => t.id)).toEqual(prompt);
    expect(prompted.tokens[0]).toEqual({ id: 5, text: tok.decode([5]), logprob: null });
    for (let j = 1; j < prompt.length; j++) {
      const row = logits(prompt.slice(0, j));
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      expect(prompted.tokens[j]!.logprob).toBeCloseTo(row[prompt[j]!]! - lse, 5);
      expect(prompted.tokens[j]!.top).toHaveLength(2);
    }
    expect(events.slice(1)).toEqual([
      { type: 'done', sequence: 0, finishReason: 'length', generatedTokens: 0, text: '', limit: 'max_new_tokens' },
      { type: 'done', sequence: 1, finishReason: 'length', generatedTokens: 0, text: '', limit: 'max_new_tokens' },
    ]);
    expect(lm.stats.forwards.map((f) => f.logitsFor)).toEqual(['all']);
    expect(lm.liveCaches).toBe(0);
  });

  it('scores a long prompt in chunks of PROMPT_CHUNK positions (bounded logits memory), same numbers', async () => {
    const lm = new FakeLM(logits, { vocabSize: V, nPositions: 256 });
    const prompt = Array.from({ length: 2 * PROMPT_CHUNK + 5 }, (_, i) => (i * 37 + 11) % 250);
    const events = await collect(generate(lm, tok, prompt, params({ maxNewTokens: 2, promptLogprobs: true })));
    expect(lm.stats.forwards.slice(0, 3).map((f) => [f.inputIds[0]!.length, f.cache?.length ?? 0, f.logitsFor])).toEqual([
      [PROMPT_CHUNK, 0, 'all'],
      [PROMPT_CHUNK, PROMPT_CHUNK, 'all'],
      [5, 2 * PROMPT_CHUNK, 'all'],
    ]);
    const prompted = events[0] as Extract<GenerationEvent, { type: 'prompt' }>;
    expect(prompted.tokens.map((t) => t.id)).toEqual(prompt);
    for (const j of [1, PROMPT_CHUNK - 1, PROMPT_CHUNK, PROMPT_CHUNK + 1, prompt.length - 1]) {
      const row = logits(prompt.slice(0, j));
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      expect(prompted.tokens[j]!.logprob).toBeCloseTo(row[prompt[j]!]! - lse, 5);
    }
    // Generation after a chunked prefill continues from the last prompt position.
    const alone = await collect(generate(new FakeLM(logits, { vocabSize: V, nPositions: 256 }), tok, prompt, params({ maxNewTokens: 2 })));
    expect(events.slice(1)).toEqual(alone);
    expect(lm.liveCaches).toBe(0);
  });

  it('prefills a long prompt in chunks of PREFILL_CHUNK (bounded activations), hinting the whole length', async () => {
    const lm = new FakeLM(logits, { vocabSize: V, nPositions: 512 });
    const prompt = Array.from({ length: PREFILL_CHUNK + 7 }, (_, i) => (i * 37 + 11) % 250);
    const events = await collect(generate(lm, tok, prompt, params({ maxNewTokens: 3 })));
    expect(lm.stats.forwards.slice(0, 2).map((f) => [f.inputIds[0]!.length, f.cache?.length ?? 0, f.logitsFor, f.capacity])).toEqual([
      [PREFILL_CHUNK, 0, 'last', prompt.length + 3],
      [7, PREFILL_CHUNK, 'last', prompt.length + 3],
    ]);
    // The same tokens as with the whole prompt in one forward: the fake's logits depend on the prefix only.
    const tokens = events.filter((e) => e.type === 'token').map((e) => (e as { id: number }).id);
    expect(tokens).toEqual([0, 1, 2].map((i) => argmax(Float32Array.from(logits([...prompt, ...tokens.slice(0, i)])))));
    expect(lm.liveCaches).toBe(0);
  });

  it('max_new_tokens = 0 without logprobs runs no forward at all', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    const events = await collect(generate(lm, tok, [1, 2], params({ maxNewTokens: 0 })));
    expect(types(events)).toEqual(['done']);
    expect(lm.stats.forwards).toHaveLength(0);
  });

  it('prompt logprobs then generation uses the last prompt position', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    const events = await collect(generate(lm, tok, [3, 4], params({ maxNewTokens: 2, promptLogprobs: true })));
    expect(types(events)).toEqual(['prompt', 'token', 'token', 'done']);
    const alone = await collect(generate(new FakeLM(logits, { vocabSize: V }), tok, [3, 4], params({ maxNewTokens: 2 })));
    expect(events.slice(1)).toEqual(alone);
  });

  it('an empty prompt is conditioned on BOS', async () => {
    const lm = new FakeLM(logits, { vocabSize: V, bosTokenId: tok.eosTokenId });
    const events = await collect(generate(lm, tok, [], params({ maxNewTokens: 2 })));
    expect(lm.stats.forwards[0]!.inputIds).toEqual([[tok.eosTokenId]]);
    expect(types(events)).toEqual(['token', 'token', 'done']);
  });
});

describe('generate: CPU budget', () => {
  const prior = { fixedMs: 0, msPerNewToken: 10, msPerPrefillToken: 1, msPerPastPosition: 0 };

  it('with a frozen clock, stops with length before the budget would be exceeded', async () => {
    const lm = new FakeLM(logits, { vocabSize: V });
    // prefill 4 × 1 ms = 4; each step 10 ms per row: 2 rows → 20 ms. Budget 65: 4 + 3 × 20 = 64 ≤ 65.
    const events = await collect(
      generate(lm, tok, [1, 2, 3, 4], params({ maxNewTokens: 100, cpuBudgetMs: 65, numSequences: 2, doSample: true }), {
        now: () => 0,
        costPrior: prior,
      }),
    );
    const done = events.filter((e) => e.type === 'done');
    expect(done.map((d) => [d.finishReason, d.generatedTokens])).toEqual([
      ['length', 4],
      ['length', 4],
    ]);
    expect(lm.stats.forwards).toHaveLength(4); // prefill + 3 steps
    expect(lm.liveCaches).toBe(0);
  });

  it('with a working clock, stops before the measured time would exceed the budget', async () => {
    let t = 0;
    const lm = new FakeLM(logits, { vocabSize: V }, () => {
      t += 30; // each forward really takes 30 ms
    });
    const events = await collect(
      generate(lm, tok, [1], params({ maxNewTokens: 100, cpuBudgetMs: 200 }), { now: () => t, costPrior: prior }),
    );
    // prefill 30 → scale unknown → step estimate 10; after the first step the meter knows 30/10 = 3×.
    // spent after k forwards = 30k; a step is allowed while 30k + 30 ≤ 200 → 6 forwards.
    expect(lm.stats.forwards).toHaveLength(6);
    expect(t).toBeLessThanOrEqual(200);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'length', generatedTokens: 6 });
  });

  it('flushes held-back stop-prefix text into the last token when the budget ends the sequence', async () => {
    const script = [...tok.encode('hi ST')];
    const lm = new FakeLM(
      scriptedLogits(V, (h) => script[h.length - 2] ?? 0),
      { vocabSize: V },
    );
    // prefill of 2 tokens = 2 ms, then 4 steps of 10 ms: the 5th token is the last one affordable.
    const events = await collect(
      generate(lm, tok, [1, 1], params({ maxNewTokens: 100, cpuBudgetMs: 2 + 4 * 10, stop: ['STOP'] }), { now: () => 0, costPrior: prior }),
    );
    const texts = events.flatMap((e) => (e.type === 'token' ? [e.text] : []));
    expect(texts).toEqual(['h', 'i', ' ', '', 'ST']);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'length', text: 'hi ST' });
  });
});

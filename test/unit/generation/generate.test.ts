/**
 * The loop end to end over FakeLM (a KV cache that records each row's history, so a row mix-up or a
 * wrong feed changes the logits) and FakeTokenizer. The reference here is a plain per-sequence loop
 * over the logits function with independently written penalties.
 */
import { describe, expect, it } from 'vitest';
import {
  defaultParams,
  generate,
  Rng,
  sampleToken,
  type GenerationEvent,
  type GenerationParams,
} from '../../../worker/generation/index.ts';
import { createCandidates } from '../../../worker/generation/truncation.ts';
import { collect, FakeLM, FakeTokenizer, hashLogits, scriptedLogits, type LogitsFn } from './fakes.ts';

const tok = new FakeTokenizer();
const V = tok.vocabSize;
const EOS = tok.eosTokenId;
const params = (p: Partial<GenerationParams> = {}): GenerationParams => ({ ...defaultParams(), ...p });
type TokenEvent = Extract<GenerationEvent, { type: 'token' }>;
type DoneEvent = Extract<GenerationEvent, { type: 'done' }>;
const tokens = (events: GenerationEvent[], sequence = 0): TokenEvent[] =>
  events.flatMap((e) => (e.type === 'token' && e.sequence === sequence ? [e] : []));
const dones = (events: GenerationEvent[]): DoneEvent[] => events.flatMap((e) => (e.type === 'done' ? [e] : []));

/** Invariants every run must satisfy: one done per sequence, deltas add up to the final text. */
function checkStream(events: GenerationEvent[], n: number): void {
  const d = dones(events);
  expect(d.map((e) => e.sequence).sort()).toEqual([...Array(n).keys()]);
  for (const done of d) {
    const ts = tokens(events, done.sequence);
    expect(ts.map((t) => t.index)).toEqual([...ts.keys()]);
    expect(ts.map((t) => t.text).join('')).toBe(done.text);
    expect(done.generatedTokens).toBe(ts.length);
    expect(events.indexOf(done)).toBeGreaterThan(events.indexOf(ts.at(-1)!)); // done comes after its tokens
    // Exactly the last token is marked final (streams put the finish on it without waiting a step).
    expect(ts.map((t) => t.final)).toEqual(ts.map((_, i) => i === ts.length - 1));
  }
}

/** Reference: one sequence, straight over the logits function, penalties written out by hand. */
function reference(logits: LogitsFn, prompt: number[], p: GenerationParams, sequence = 0) {
  const rng = Rng.forSequence(p.seed, sequence);
  const history = [...prompt];
  const out: { id: number; logprob: number }[] = [];
  const counts = new Map<number, number>();
  while (out.length < p.maxNewTokens) {
    const row = logits(history).slice();
    for (const id of new Set(history)) row[id] = row[id]! > 0 ? row[id]! / p.repetitionPenalty : row[id]! * p.repetitionPenalty;
    for (const [id, c] of counts) row[id] = row[id]! - p.presencePenalty - c * p.frequencyPenalty;
    for (const [id, b] of p.logitBias) row[id] = row[id]! + b;
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    const id = sampleToken(row.slice(), p, rng.nextFloat(), createCandidates(V));
    out.push({ id, logprob: row[id]! - lse });
    history.push(id);
    counts.set(id, (counts.get(id) ?? 0) + 1);
    if (p.stopOnEos && id === EOS) break;
  }
  return out;
}

const A = 65; // 'A'
const B = 66; // 'B'

describe('generate: decoding', () => {
  it('greedy follows the argmax path; max_new_tokens is exact', async () => {
    const logits = hashLogits(V, 3);
    const lm = new FakeLM(logits, { vocabSize: V });
    const prompt = tok.encode('Hello world');
    const p = params({ maxNewTokens: 12, stopOnEos: false });
    const events = await collect(generate(lm, tok, prompt, p));
    checkStream(events, 1);
    // Logprobs to 1e-5 of the float64 reference: the sampler's softmax is exp in f32 (logits.ts expSumJs).
    expect(tokens(events).map(({ id, logprob }) => ({ id, logprob }))).toEqual(
      reference(logits, prompt, p).map(({ id, logprob }) => ({ id, logprob: expect.closeTo(logprob, 5) })),
    );
    expect(dones(events)[0]).toMatchObject({ finishReason: 'length', generatedTokens: 12 });
    expect(lm.stats.forwards).toHaveLength(12); // prefill + 11 steps: the last token is never fed
    expect(lm.stats.forwards.slice(1).every((f) => f.inputIds.length === 1 && f.inputIds[0]!.length === 1)).toBe(true);
    expect(lm.liveCaches).toBe(0);
  });

  it('seeded sampling is reproducible; another seed gives another text', async () => {
    const logits = hashLogits(V, 5, 2);
    const p = params({ maxNewTokens: 16, doSample: true, seed: 1234, stopOnEos: false });
    const run = async (q: GenerationParams) =>
      tokens(await collect(generate(new FakeLM(logits, { vocabSize: V }), tok, [A], q))).map((t) => t.id);
    const first = await run(p);
    expect(await run(p)).toEqual(first);
    expect(await run({ ...p, seed: 1235 })).not.toEqual(first);
    expect(first).toEqual(reference(logits, [A], p).map((t) => t.id));
  });

  it('sequence i of n is the same sequence generated alone (its own RNG stream and cache row)', async () => {
    const logits = hashLogits(V, 11, 2);
    const p = params({ maxNewTokens: 10, doSample: true, seed: 99, numSequences: 4, stopOnEos: false, topK: 20 });
    const lm = new FakeLM(logits, { vocabSize: V });
    const events = await collect(generate(lm, tok, [A, B], p));
    checkStream(events, 4);
    for (let i = 0; i < 4; i++) {
      expect(tokens(events, i).map((t) => t.id)).toEqual(reference(logits, [A, B], p, i).map((t) => t.id));
    }
    const alone = await collect(generate(new FakeLM(logits, { vocabSize: V }), tok, [A, B], { ...p, numSequences: 1 }));
    expect(tokens(alone).map((t) => t.id)).toEqual(tokens(events, 0).map((t) => t.id));
    expect(lm.stats.selects[0]).toEqual({ fromBatch: 1, rows: [0, 0, 0, 0] }); // the prefill is tiled once
    expect(lm.liveCaches).toBe(0);
  });

  it('top_k = 1 and a tiny top_p sample exactly the greedy text', async () => {
    const logits = hashLogits(V, 8, 3);
    const run = async (q: Partial<GenerationParams>) =>
      tokens(
        await collect(generate(new FakeLM(logits, { vocabSize: V }), tok, [A], params({ maxNewTokens: 10, stopOnEos: false, ...q }))),
      ).map((t) => t.id);
    const greedy = await run({});
    expect(await run({ doSample: true, topK: 1, seed: 5 })).toEqual(greedy);
    expect(await run({ doSample: true, topP: 1e-6, seed: 6 })).toEqual(greedy);
    expect(await run({ doSample: true, temperature: 1e-4, seed: 7 })).toEqual(greedy);
  });

  it('sampling tokens per step in a batch are emitted in sequence order', async () => {
    const lm = new FakeLM(hashLogits(V, 2), { vocabSize: V });
    const events = await collect(generate(lm, tok, [A], params({ maxNewTokens: 3, doSample: true, numSequences: 3, stopOnEos: false })));
    const order = events.filter((e): e is TokenEvent => e.type === 'token').map((e) => [e.index, e.sequence]);
    expect(order).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
      [1, 2],
      [2, 0],
      [2, 1],
      [2, 2],
    ]);
  });

  it('reports top alternatives and logprobs of the penalised distribution', async () => {
    const logits = hashLogits(V, 4);
    const p = params({ maxNewTokens: 3, topLogprobs: 3, stopOnEos: false, logitBias: new Map([[A, 50]]) });
    const events = await collect(generate(new FakeLM(logits, { vocabSize: V }), tok, [B], p));
    const [t0] = tokens(events);
    expect(t0!.id).toBe(A);
    expect(t0!.top).toHaveLength(3);
    expect(t0!.top![0]).toEqual({ id: A, text: 'A', logprob: t0!.logprob });
    expect(t0!.top![1]!.logprob).toBeLessThanOrEqual(t0!.top![0]!.logprob);
    expect(t0!.logprob).toBeCloseTo(reference(logits, [B], p)[0]!.logprob, 5);
  });
});

describe('generate: penalties', () => {
  // 'A' is a little more likely than 'B'; every other token is far behind.
  const ab: LogitsFn = () => {
    const r = new Float32Array(V).fill(-20);
    r[A] = 3;
    r[B] = 2;
    return r;
  };
  const text = async (q: Partial<GenerationParams>, prompt = [32]) =>
    dones(await collect(generate(new FakeLM(ab, { vocabSize: V }), tok, prompt, params({ maxNewTokens: 6, stopOnEos: false, ...q }))))[0]!
      .text;

  it('without penalties greedy repeats the favourite', async () => {
    expect(await text({})).toBe('AAAAAA');
  });

  it('frequency penalty subtracts per occurrence of generated tokens', async () => {
    // A: 3, 2.4, 1.8 | B: 2, 1.4 → A A B A B A
    expect(await text({ frequencyPenalty: 0.6 })).toBe('AABABA');
  });

  it('presence penalty subtracts once per generated token', async () => {
    // A: 3 → 1.5 after it appeared; B: 2 → 0.5 → A B A A A A
    expect(await text({ presencePenalty: 1.5 })).toBe('ABAAAA');
  });

  it('repetition penalty covers the prompt too (HF), dividing positive logits', async () => {
    expect(await text({ repetitionPenalty: 2 }, [A])).toBe('BAAAAA'); // A: 3/2 = 1.5 < B: 2; then both seen
    expect(await text({ repetitionPenalty: 2 }, [32])).toBe('ABAAAA'); // once generated, A is seen too
  });

  it('logit bias moves exactly the biased token', async () => {
    expect(await text({ logitBias: new Map([[A, -1.5]]) })).toBe('BBBBBB');
    expect(await text({ logitBias: new Map([[A, -Infinity]]), doSample: true, seed: 3 })).toMatch(/^[^A]+$/);
  });

  it('penalties match the reference loop under sampling', async () => {
    const logits = hashLogits(V, 21, 3);
    const p = params({
      maxNewTokens: 20,
      doSample: true,
      seed: 77,
      stopOnEos: false,
      repetitionPenalty: 1.3,
      presencePenalty: 0.4,
      frequencyPenalty: 0.7,
      logitBias: new Map([[B, 2]]),
      temperature: 0.8,
      topP: 0.9,
    });
    const events = await collect(generate(new FakeLM(logits, { vocabSize: V }), tok, [A, B, A], p));
    const ref = reference(logits, [A, B, A], p);
    expect(tokens(events).map((t) => t.id)).toEqual(ref.map((t) => t.id));
    tokens(events).forEach((t, i) => expect(t.logprob).toBeCloseTo(ref[i]!.logprob, 4));
  });
});

/** Logits that spell out `ids` one token after another, whatever the prompt, then EOS. */
function spell(ids: number[], promptLength: number): LogitsFn {
  return scriptedLogits(V, (h) => ids[h.length - promptLength] ?? EOS);
}

describe('generate: stopping and text', () => {
  it('a stop sequence split across tokens is never partly sent and is removed', async () => {
    const script = [...tok.encode('go '), 83, 84, 79, 80, ...tok.encode(' more')]; // 'S','T','O','P' as single bytes
    const lm = new FakeLM(spell(script, 1), { vocabSize: V });
    const events = await collect(generate(lm, tok, [A], params({ maxNewTokens: 20, stop: ['STOP'] })));
    checkStream(events, 1);
    const ts = tokens(events);
    expect(ts.map((t) => t.text)).toEqual(['g', 'o', ' ', '', '', '', '']);
    expect(dones(events)[0]).toMatchObject({ finishReason: 'stop_sequence', text: 'go ', generatedTokens: 7 });
    expect(lm.liveCaches).toBe(0);
  });

  it('releases held-back text when the prefix turns out not to be a stop', async () => {
    const script = tok.encode('a ST b');
    const events = await collect(
      generate(new FakeLM(spell(script, 1), { vocabSize: V }), tok, [A], params({ maxNewTokens: 20, stop: ['STOP'] })),
    );
    checkStream(events, 1);
    expect(tokens(events).map((t) => t.text)).toEqual(['a', ' ', '', '', 'ST ', 'b', '']);
    expect(dones(events)[0]).toMatchObject({ finishReason: 'eos_token', text: 'a ST b' });
  });

  it('flushes held-back text in the last token event when max_new_tokens ends the sequence', async () => {
    const script = tok.encode('xyST');
    const events = await collect(
      generate(new FakeLM(spell(script, 1), { vocabSize: V }), tok, [A], params({ maxNewTokens: 4, stop: ['STOP'] })),
    );
    checkStream(events, 1);
    expect(tokens(events).map((t) => t.text)).toEqual(['x', 'y', '', 'ST']);
    expect(dones(events)[0]).toMatchObject({ finishReason: 'length', text: 'xyST' });
  });

  it('streams only whole characters when tokens split them', async () => {
    const script = [256 + 6, 256 + 7, 256 + 8, 256 + 9, 0xf0]; // [f0 9f][98 80] = 😀, [e4 b8][ad 20] = '中 ', lone f0
    const events = await collect(generate(new FakeLM(spell(script, 1), { vocabSize: V }), tok, [A], params({ maxNewTokens: 5 })));
    checkStream(events, 1);
    expect(tokens(events).map((t) => t.text)).toEqual(['', '😀', '', '中 ', '\uFFFD']);
    expect(dones(events)[0]!.text).toBe(tok.decode(script));
  });

  it('ends every sequence once, with rows finishing at different steps (selectRows drops them)', async () => {
    // The first token is drawn uniformly from '0'..'3'; a sequence that drew digit d then repeats it
    // d times and ends with EOS (d + 2 tokens), so rows finish at different steps and the batch shrinks.
    const prompt = [A];
    const firstRow: LogitsFn = (h) => {
      const r = new Float32Array(V).fill(-50);
      if (h.length === 1) {
        for (let d = 0; d < 4; d++) r[48 + d] = 0;
        return r;
      }
      const d = h[1]! - 48;
      r[h.length - 1 > d ? EOS : 48 + d] = 0;
      return r;
    };
    const lm = new FakeLM(firstRow, { vocabSize: V });
    const p = params({ maxNewTokens: 10, doSample: true, seed: 2024, numSequences: 4 });
    const events = await collect(generate(lm, tok, prompt, p));
    checkStream(events, 4);
    const lengths = [0, 1, 2, 3].map((i) => tokens(events, i).length);
    for (let i = 0; i < 4; i++) {
      const digit = tokens(events, i)[0]!.id - 48;
      expect(lengths[i]).toBe(digit + 2);
      expect(dones(events).find((d) => d.sequence === i)!.finishReason).toBe('eos_token');
      expect(tokens(events, i).map((t) => t.id)).toEqual(reference(firstRow, prompt, p, i).map((t) => t.id));
    }
    expect(new Set(lengths).size).toBeGreaterThan(1); // this seed really finishes rows at different steps
    const batches = lm.stats.forwards.map((f) => f.inputIds.length);
    expect(batches.slice(1)).toEqual([...batches.slice(1)].sort((a, b) => b - a)); // never grows
    for (const s of lm.stats.selects) expect(s.rows.every((r) => r < s.fromBatch)).toBe(true);
    expect(lm.liveCaches).toBe(0);
  });

  it('stops at the context window with finish reason length', async () => {
    const lm = new FakeLM(hashLogits(V, 1), { vocabSize: V, nPositions: 8 });
    const events = await collect(generate(lm, tok, [1, 2, 3, 4, 5], params({ maxNewTokens: 50, stopOnEos: false })));
    checkStream(events, 1);
    expect(dones(events)[0]).toMatchObject({ finishReason: 'length', generatedTokens: 4 }); // 3 fed + 1 sampled
    await expect(collect(generate(lm, tok, Array(9).fill(1), params()))).rejects.toMatchObject({ code: 'context_overflow' });
  });
});

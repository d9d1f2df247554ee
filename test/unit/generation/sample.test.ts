import { describe, expect, it } from 'vitest';
import { argmax, expSum, logSumExp } from '../../../worker/generation/logits.ts';
import { createCandidates } from '../../../worker/generation/truncation.ts';
import { sampleToken, type SamplingParams } from '../../../worker/generation/sample.ts';
import { hashLogits } from './fakes.ts';

const sampling = (p: Partial<SamplingParams> = {}): SamplingParams => ({
  doSample: true,
  temperature: 1,
  topK: 0,
  topP: 1,
  typicalP: 1,
  ...p,
});
const V = 1000;
const base = (seed: number, scale = 3, vocab = V) => hashLogits(vocab, seed, scale)([seed]);
/** Histogram tests draw N times over a small vocabulary: an exact grid, cheap enough for shared CPUs. */
const SMALL = 48;
const N = 20_000;
const c = createCandidates(V);
/** Empirical distribution over a grid of N evenly spaced u values: exact, no randomness. */
function histogram(logits: Float32Array, p: SamplingParams, n: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = sampleToken(logits.slice(), p, (i + 0.5) / n, c);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('sampleToken', () => {
  it('greedy is argmax whatever u is', () => {
    const r = base(1);
    for (const u of [0, 0.3, 0.999]) expect(sampleToken(r.slice(), sampling({ doSample: false }), u, c)).toBe(argmax(r));
    expect(sampleToken(r.slice(), sampling({ temperature: 0 }), 0.7, c)).toBe(argmax(r)); // T = 0 means greedy
  });

  it('top_k = 1 and a tiny top_p are greedy for every u', () => {
    for (let s = 0; s < 20; s++) {
      const r = base(s);
      for (const u of [0, 0.5, 0.9999]) {
        expect(sampleToken(r.slice(), sampling({ topK: 1 }), u, c)).toBe(argmax(r));
        expect(sampleToken(r.slice(), sampling({ topP: 1e-9 }), u, c)).toBe(argmax(r));
      }
    }
  });

  it('draws each token with its softmax probability (u grid)', () => {
    const r = base(3, 2, SMALL);
    const n = N;
    const lse = logSumExp(r);
    const counts = histogram(r, sampling(), n);
    for (const id of [0, argmax(r), 17, 40]) {
      expect(Math.abs((counts.get(id) ?? 0) - Math.exp(r[id]! - lse) * n)).toBeLessThanOrEqual(1.5);
    }
  });

  it('temperature sharpens (T < 1) and flattens (T > 1) the distribution exactly as softmax(x / T)', () => {
    const r = base(4, 2, SMALL);
    const n = N;
    const best = argmax(r);
    for (const t of [0.5, 2]) {
      const scaled = r.map((x) => x / t);
      const lse = logSumExp(scaled);
      const got = histogram(r, sampling({ temperature: t }), n).get(best) ?? 0;
      expect(Math.abs(got - Math.exp(scaled[best]! - lse) * n)).toBeLessThanOrEqual(1.5);
    }
    const cold = histogram(r, sampling({ temperature: 0.5 }), 2_000).get(best) ?? 0;
    const hot = histogram(r, sampling({ temperature: 2 }), 2_000).get(best) ?? 0;
    expect(cold).toBeGreaterThan(hot);
  });

  it('top_k restricts draws to the k best and renormalises', () => {
    const r = base(5, 3, SMALL);
    const top3 = [...r.keys()].sort((a, b) => r[b]! - r[a]!).slice(0, 3);
    const counts = histogram(r, sampling({ topK: 3 }), N);
    expect([...counts.keys()].sort()).toEqual([...top3].sort());
    const z = top3.reduce((s, i) => s + Math.exp(r[i]!), 0);
    for (const i of top3) expect(Math.abs(counts.get(i)! - (Math.exp(r[i]!) / z) * N)).toBeLessThanOrEqual(1.5);
  });

  it('is a pure function of (logits, params, u)', () => {
    const r = base(6);
    const p = sampling({ topK: 50, topP: 0.9, temperature: 0.8 });
    expect(sampleToken(r.slice(), p, 0.4242, c)).toBe(sampleToken(r.slice(), p, 0.4242, createCandidates(V)));
  });

  it('never draws a banned (-Infinity) token', () => {
    const r = new Float32Array(4).fill(-Infinity);
    r[2] = 0;
    for (const u of [0, 0.5, 0.99]) expect(sampleToken(r.slice(), sampling(), u, c)).toBe(2);
  });
});

describe('sampleToken with the weights of expSum (one pass of exp for logprob and draw)', () => {
  it('draws the same token as the two-pass path (weights within 3e-7), with banned tokens and at the edges of u', () => {
    const c2 = createCandidates(V);
    let compared = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const row = base(seed, 4);
      if (seed % 3 === 0) for (let i = seed; i < V; i += 7) row[i] = -Infinity; // logit_bias bans
      for (const u of [0, 1e-12, 0.25, 0.5, 0.999999, 1 - 2 ** -53]) {
        const a = sampleToken(row.slice(), sampling(), u, c);
        const b = sampleToken(row.slice(), sampling(), u, c2, expSum(row, c2.weight));
        expect(b).toBe(a);
        compared++;
      }
    }
    expect(compared).toBe(240);
  });

  it('falls back to argmax when every token is banned, and leaves warped sampling to the full path', () => {
    const banned = new Float32Array(V).fill(-Infinity);
    expect(sampleToken(banned.slice(), sampling(), 0.5, c, expSum(banned, c.weight))).toBe(argmax(banned));
    // With a warper the weights are not used: the same token as without them.
    const row = base(7, 4);
    const warped = sampling({ topK: 5 });
    expect(sampleToken(row.slice(), warped, 0.3, c, expSum(row, c.weight))).toBe(sampleToken(row.slice(), warped, 0.3, c));
  });

  it('expSum gives logSumExp exactly', () => {
    const row = base(11, 5);
    const { max, total } = expSum(row);
    expect(max + Math.log(total)).toBe(logSumExp(row));
  });
});

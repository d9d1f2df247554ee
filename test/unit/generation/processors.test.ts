/**
 * Processors and the sampler against straightforward reference implementations (full sorts, HF's
 * formulas written the obvious way) on deterministic pseudo-random rows, including 50,257-wide ones.
 */
import { describe, expect, it } from 'vitest';
import { argmax, logSoftmax, logSumExp, topAlternatives } from '../../../worker/generation/logits.ts';
import { applyLogitBias, applyPresenceFrequency, applyRepetitionPenalty, applyTemperature } from '../../../worker/generation/processors.ts';
import { createCandidates, resetCandidates, topK, topP, typicalP, type Candidates } from '../../../worker/generation/truncation.ts';
import { Rng } from '../../../worker/generation/rng.ts';
import { hashLogits } from './fakes.ts';

const row = (vocab: number, seed: number, scale = 4) => hashLogits(vocab, seed, scale)([seed]);
const kept = (c: Candidates) => [...c.ids.subarray(0, c.n)].sort((a, b) => a - b);
const probs = (r: Float32Array) => {
  const lse = logSumExp(r);
  return Array.from(r, (x) => Math.exp(x - lse));
};
/** Ids by descending logit, ties by ascending id. */
const order = (r: Float32Array) => [...r.keys()].sort((a, b) => r[b]! - r[a]! || a - b);

function refTopK(r: Float32Array, k: number): number[] {
  const kth = [...r].sort((a, b) => b - a)[k - 1]!;
  return [...r.keys()].filter((i) => r[i]! >= kth);
}
function refTopP(r: Float32Array, p: number): number[] {
  const pr = probs(r);
  const out: number[] = [];
  let before = 0;
  for (const i of order(r)) {
    if (out.length > 0 && before >= p) break;
    out.push(i);
    before += pr[i]!;
  }
  return out.sort((a, b) => a - b);
}
function refTypical(r: Float32Array, mass: number): number[] {
  const pr = probs(r);
  const logp = pr.map(Math.log);
  const ent = -pr.reduce((s, x, i) => s + x * logp[i]!, 0);
  const shift = logp.map((l) => Math.abs(-l - ent));
  const byShift = [...r.keys()].sort((a, b) => shift[a]! - shift[b]! || a - b);
  let cum = 0;
  let last = 0;
  for (; last < byShift.length - 1; last++) {
    cum += pr[byShift[last]!]!;
    if (cum >= mass) break;
  }
  const cutoff = shift[byShift[last]!]!;
  return [...r.keys()].filter((i) => shift[i]! <= cutoff);
}

describe('logits helpers', () => {
  it('argmax breaks ties toward the lowest id', () => {
    expect(argmax(Float32Array.of(1, 3, 3, 2))).toBe(1);
    expect(argmax(Float32Array.of(-Infinity, -Infinity))).toBe(0);
  });

  it('logSumExp / logSoftmax normalise, ignoring -Infinity', () => {
    const r = Float32Array.of(1000, 1000, -Infinity);
    expect(logSumExp(r)).toBeCloseTo(1000 + Math.log(2), 4);
    const ls = logSoftmax(Float32Array.of(0, Math.log(3)));
    expect(Math.exp(ls[0]!)).toBeCloseTo(0.25, 6);
    expect(Math.exp(ls[1]!)).toBeCloseTo(0.75, 6);
  });

  it('topAlternatives equals a full sort, best first, ties by lowest id', () => {
    for (const vocab of [7, 300, 50257]) {
      const r = row(vocab, vocab);
      r[3] = r[5] = 100; // a tie at the top
      const lse = logSumExp(r);
      const got = topAlternatives(r, 5, lse);
      expect(got.map((t) => t.id)).toEqual(order(r).slice(0, 5));
      expect(got[0]).toEqual({ id: 3, logprob: r[3]! - lse });
    }
    expect(topAlternatives(Float32Array.of(1, 2), 5, 0).map((t) => t.id)).toEqual([1, 0]);
  });
});

describe('penalties and bias', () => {
  it('repetition penalty divides positive and multiplies negative logits of seen tokens, once each', () => {
    const r = Float32Array.of(2, -2, 4, 1);
    applyRepetitionPenalty(r, new Set([0, 1]), 2);
    expect([...r]).toEqual([1, -4, 4, 1]);
    const same = Float32Array.of(2, -2);
    applyRepetitionPenalty(same, [0, 0, 1], 1); // 1 = off
    expect([...same]).toEqual([2, -2]);
  });

  it('presence and frequency penalties follow OpenAI: presence once, frequency per occurrence', () => {
    const r = Float32Array.of(5, 5, 5);
    applyPresenceFrequency(
      r,
      new Map([
        [0, 3],
        [1, 1],
      ]),
      0.5,
      1,
    );
    expect([...r]).toEqual([5 - 0.5 - 3, 5 - 0.5 - 1, 5]);
  });

  it('logit bias adds to the logit and ignores ids outside the vocabulary', () => {
    const r = Float32Array.of(1, 1);
    applyLogitBias(
      r,
      new Map([
        [1, -100],
        [9, 5],
      ]),
    );
    expect([...r]).toEqual([1, -99]);
  });

  it('temperature divides every logit', () => {
    const r = Float32Array.of(1, -2, 4);
    applyTemperature(r, 0.5);
    expect([...r]).toEqual([2, -4, 8]);
  });
});

describe('truncation warpers', () => {
  const vocabs = [5, 300, 50257];

  it('top_k keeps the k best (ties at the boundary included), like HF', () => {
    for (const vocab of vocabs) {
      for (const k of [1, 2, 40]) {
        const r = row(vocab, k + vocab);
        const c = createCandidates(vocab);
        resetCandidates(r, c);
        topK(r, c, k);
        expect(kept(c)).toEqual(refTopK(r, Math.min(k, vocab)));
      }
    }
    const ties = Float32Array.of(1, 3, 2, 3, 3, 0);
    const c = createCandidates(6);
    resetCandidates(ties, c);
    topK(ties, c, 2);
    expect(kept(c)).toEqual([1, 3, 4]);
  });

  it('top_p keeps the smallest most-likely prefix reaching p (sorting only candidates)', () => {
    for (const vocab of vocabs) {
      for (const [scale, p] of [
        [4, 0.9],
        [12, 0.5],
        [1, 0.95],
        [30, 0.999],
        [0.01, 0.5],
        [6, 1e-9],
      ] as const) {
        const r = row(vocab, vocab + scale, scale);
        const c = createCandidates(vocab);
        resetCandidates(r, c);
        topP(r, c, p);
        expect(kept(c)).toEqual(refTopP(r, p));
      }
    }
  });

  it('top_p after top_k renormalises over the survivors', () => {
    const r = row(1000, 5, 6);
    const c = createCandidates(1000);
    resetCandidates(r, c);
    topK(r, c, 10);
    topP(r, c, 0.8);
    const survivors = refTopK(r, 10);
    const sub = Float32Array.from(survivors, (i) => r[i]!);
    expect(kept(c)).toEqual(refTopP(sub, 0.8).map((j) => survivors[j]!));
  });

  it('typical_p matches HF TypicalLogitsWarper', () => {
    for (const vocab of [5, 300, 5000, 50257]) {
      for (const mass of [0.2, 0.9]) {
        const r = row(vocab, vocab + 1, 5);
        const c = createCandidates(vocab);
        resetCandidates(r, c);
        typicalP(r, c, mass);
        expect(kept(c)).toEqual(refTypical(r, mass));
      }
    }
  });

  it('a -Infinity logit is never a candidate', () => {
    const r = Float32Array.of(1, -Infinity, 2);
    const c = createCandidates(3);
    resetCandidates(r, c);
    expect(kept(c)).toEqual([0, 2]);
  });

  it('warpers with neutral values keep everything', () => {
    const r = row(50, 9);
    const c = createCandidates(50);
    resetCandidates(r, c);
    topK(r, c, 0);
    topP(r, c, 1);
    typicalP(r, c, 1);
    expect(c.n).toBe(50);
  });

  it('random rows, with and without many tied logits: top_p and typical_p agree with the references', () => {
    const rng = Rng.forSequence(1, 0);
    for (let t = 0; t < 60; t++) {
      const vocab = 2 + Math.floor(rng.nextFloat() * 3000);
      const r = row(vocab, t, 1 + rng.nextFloat() * 10);
      if (t % 2 === 1) for (let i = 0; i < vocab; i++) r[i] = Math.round(r[i]!); // ties everywhere
      const p = 0.05 + rng.nextFloat() * 0.9;
      const c = createCandidates(vocab);
      resetCandidates(r, c);
      topP(r, c, p);
      expect(kept(c)).toEqual(refTopP(r, p));
      resetCandidates(r, c);
      typicalP(r, c, p);
      expect(kept(c)).toEqual(refTypical(r, p));
    }
  });
});

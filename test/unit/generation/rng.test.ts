import { describe, expect, it } from 'vitest';
import { Rng, seedWords, Xoshiro128 } from '../../../worker/generation/rng.ts';
import { Prng } from '../../../scripts/lib/prng.ts';

const draws = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.nextFloat());

describe('Rng', () => {
  it('is reproducible for the same (seed, sequence)', () => {
    expect(draws(Rng.forSequence(42, 0), 50)).toEqual(draws(Rng.forSequence(42, 0), 50));
  });

  it('gives different streams for different seeds and sequence indexes', () => {
    const a = draws(Rng.forSequence(42, 0), 8);
    expect(draws(Rng.forSequence(43, 0), 8)).not.toEqual(a);
    expect(draws(Rng.forSequence(42, 1), 8)).not.toEqual(a);
    expect(draws(Rng.forSequence(2 ** 32 + 42, 0), 8)).not.toEqual(a); // the hi word counts
  });

  it('draws uniform floats in [0, 1)', () => {
    const xs = draws(Rng.forSequence(7, 3), 20_000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // sd of the mean ≈ 0.002
    const buckets = new Array<number>(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)]!++;
    for (const b of buckets) expect(Math.abs(b - 2000)).toBeLessThan(200);
  });

  it('matches the published xoshiro128** output for a known state', () => {
    // Reference: xoshiro128** with s = {1, 2, 3, 4} (Vigna's C code) yields 11520, 0, 5927040, 70819200.
    const rng = new Xoshiro128(1, 2, 3, 4);
    expect([rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual([11520, 0, 5927040, 70819200]);
    expect(() => new Xoshiro128(0, 0, 0, 0)).toThrow(/all-zero/);
  });

  it("seeds the synthetic weights' generator as it always has (checkpoints and fixtures depend on it)", () => {
    const p = new Prng(3);
    expect([p.nextU32(), p.nextU32(), p.nextU32(), p.nextU32()]).toEqual([3088717543, 2765602889, 1645465925, 4261199595]);
  });
});

describe('seedWords', () => {
  it('splits a 53-bit seed into hi/lo words', () => {
    expect(seedWords(0)).toEqual({ hi: 0, lo: 0 });
    expect(seedWords(2 ** 32 + 5)).toEqual({ hi: 1, lo: 5 });
    expect(seedWords(2 ** 53 - 1)).toEqual({ hi: 2 ** 21 - 1, lo: 2 ** 32 - 1 });
  });

  it('reduces deterministically: truncation, modulo 2^53, negatives wrap', () => {
    expect(seedWords(7.9)).toEqual(seedWords(7));
    expect(seedWords(2 ** 53 + 2)).toEqual(seedWords(2)); // u64 seeds above 2^53 arrive rounded; still stable
    expect(seedWords(2 ** 64)).toEqual(seedWords(0));
    expect(seedWords(-1)).toEqual(seedWords(2 ** 53 - 1));
  });

  it('rejects NaN and infinities', () => {
    expect(() => seedWords(Number.NaN)).toThrow(RangeError);
    expect(() => seedWords(Infinity)).toThrow(RangeError);
  });
});

/**
 * Seedable PRNG for sampling: xoshiro128** (Blackman & Vigna), state filled by splitmix32.
 *
 * Why this one: 32-bit integer ops only (`Math.imul`, shifts), so it is exact and fast in every JS
 * engine, has a 2^128 − 1 period, and passes BigCrush; one draw per sampled token is all we need.
 *
 * Seeds: clients send u64-ish integers (TGI `seed: u64`, OpenAI `seed: int`). A JS number holds
 * integers exactly only up to 2^53, and JSON.parse has already rounded anything larger, so we reduce
 * deterministically: truncate toward zero, then take the value modulo 2^53 (negative values wrap:
 * −1 → 2^53 − 1). The 53 bits are split into hi (21 bits) and lo (32 bits) words and hashed together
 * with the sequence index, so (seed, i) names one independent stream: sequence i of
 * `num_return_sequences` is reproducible on its own, whatever else runs in the isolate.
 */

const TWO_32 = 4294967296;
const TWO_53 = 9007199254740992;

/** The (hi, lo) words of a seed reduced modulo 2^53; throws on NaN/±Infinity. */
export function seedWords(seed: number): { hi: number; lo: number } {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  // `%` on doubles is exact, so this is a true modulo even for rounded values above 2^53. Only a
  // negative remainder is shifted up (adding 2^53 to a positive one would round away odd bits).
  const r = Math.trunc(seed) % TWO_53;
  const x = r < 0 ? r + TWO_53 : r + 0; // + 0 turns -0 into 0
  const lo = x % TWO_32;
  return { hi: (x - lo) / TWO_32, lo };
}

/** murmur3's 32-bit finalizer: a bijection that spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** splitmix32's output words from a 32-bit seed: how a seed fills xoshiro's state. */
export function splitmix32(seed32: number): () => number {
  let state = seed32 >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0; // Weyl sequence, then mix
    return fmix32(state);
  };
}

/** xoshiro128** itself over a given 4-word state (never all zero). Also the synthetic weights' generator (scripts/lib/prng.ts). */
export class Xoshiro128 {
  constructor(
    private s0: number,
    private s1: number,
    private s2: number,
    private s3: number,
  ) {
    if ((s0 | s1 | s2 | s3) === 0) throw new RangeError('the all-zero state is a fixed point of xoshiro128**');
  }

  /** Next uniform uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }
}

export class Rng extends Xoshiro128 {
  /** Prefer `Rng.forSequence`; this takes the 32-bit splitmix seed directly. */
  constructor(seed32: number) {
    const next = splitmix32(seed32);
    const s = [next(), next(), next(), next()];
    if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1; // the all-zero state is a fixed point
    super(s[0]!, s[1]!, s[2]!, s[3]!);
  }

  /** Stream i of a request seeded with `seed` (see the header for how seeds are reduced). */
  static forSequence(seed: number, sequence: number): Rng {
    const { hi, lo } = seedWords(seed);
    // Chain the words through the finalizer so (seed, i) pairs land on unrelated splitmix seeds.
    return new Rng(fmix32(lo ^ fmix32(hi ^ fmix32((sequence >>> 0) ^ 0x5bd1e995))));
  }

  /** Uniform float in [0, 1) with 53 random bits (two draws, like `Math.random`'s resolution). */
  nextFloat(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO_53;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A small, fast, seeded PRNG for synthetic weights. Deterministic across platforms: only 32-bit integer
 * arithmetic, so the same seed always gives the same checkpoint bytes.
 */

/** xoshiro128** (Blackman & Vigna): 4 x 32-bit state, period 2^128 - 1. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 expands the seed so that nearby seeds give unrelated streams.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1; // the all-zero state is forbidden
  }

  /** Uniform uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /**
   * Approximately normal with mean 0 and standard deviation `std`: the Irwin-Hall sum of 4 uniforms, scaled
   * to unit variance. Bounded (|x| <= 3.46 std), which keeps random-weight activations tame, and ~3x faster
   * than Box-Muller in JS.
   */
  normal(std: number): number {
    const s = this.uniform() + this.uniform() + this.uniform() + this.uniform() - 2;
    return s * Math.sqrt(3) * std;
  }

  fillNormal(out: Float32Array, std: number, mean = 0): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + this.normal(std);
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A small, fast, seeded PRNG for synthetic weights: the Worker's xoshiro128** (worker/generation/rng.ts)
 * with this file's own seeding, which existing synthetic checkpoints and fixtures depend on. Deterministic
 * across platforms: only 32-bit integer arithmetic, so the same seed always gives the same checkpoint bytes.
 */
import { splitmix32, Xoshiro128 } from '../../worker/generation/rng.ts';

export class Prng extends Xoshiro128 {
  constructor(seed: number) {
    // splitmix32 expands the seed so that nearby seeds give unrelated streams; `| 1` keeps the state non-zero.
    const next = splitmix32(seed);
    super(next(), next(), next(), next() | 1);
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

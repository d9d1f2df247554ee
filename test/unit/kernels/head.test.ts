/**
 * The LM heads against float64 references on seeded data, at GPT-2's shapes.
 *
 * Tolerances:
 * - headU7 (int8 wte, rows quantized to 7 bits by quantU7) is compared with the float64 product on the
 *   *same* int8 weights and scales, so the only approximation is x's quantization: |x - s·(xq - zp)| ≤ s/2
 *   per element, hence |out - ref| ≤ scale[v]·(s/2)·Σ_e|w[v,e]|, plus f32 rounding of the final products
 *   (1e-6 relative). The bound is rigorous, not a fudge factor. Its bit-exact JS redo (and batch
 *   invariance) is in dense.test.ts.
 * - headF32 sums E f32 products in 4 lanes: the worst-case error of recursive f32 summation is
 *   ≈ E·2^-24·Σ|x·w| (γ_E); we allow exactly that.
 */
import { describe, expect, it } from 'vitest';
import { headRef, randInt8, randn } from './reference.ts';
import { freshKernels, put, runHeadU7 } from './wasm.ts';

const k = freshKernels();
const EPS32 = 2 ** -24;

function runU7(rows: number, V: number, E: number, seed: number, x = randn(rows * E, seed)) {
  const w = randInt8(V * E, seed + 1);
  const scale = randn(V, seed + 2, 0.01).map(Math.abs);
  return { x, w, scale, ...runHeadU7(k, rows, V, E, x, w, scale) };
}

describe('headU7 (quantU7 rows · int8 wte)', () => {
  const cases: [rows: number, V: number, E: number][] = [
    [3, 5, 128],
    [2, 1003, 768],
    [1, 50257, 768],
  ];
  for (const [rows, V, E] of cases) {
    it(`rows=${rows} V=${V} E=${E}: within the 7-bit quantization bound of the float64 product`, () => {
      const { x, w, scale, got, xs } = runU7(rows, V, E, rows * 1000 + V + E);
      const ref = headRef(x, rows, w, V, E, scale);
      let worst = 0;
      for (let r = 0; r < rows; r++)
        for (let v = 0; v < V; v++) {
          let absW = 0;
          for (let e = 0; e < E; e++) absW += Math.abs(w[v * E + e]!);
          const want = ref[r * V + v]!;
          const bound = scale[v]! * (xs[r]! / 2) * absW + 1e-6 * Math.abs(want);
          worst = Math.max(worst, Math.abs(got[r * V + v]! - want) / bound);
        }
      expect(worst).toBeLessThanOrEqual(1);
      expect(worst).toBeGreaterThan(0); // the comparison is not vacuous: quantization error is visible
    });
  }

  it('a row of zeros gives zeros (not NaN); other rows stay within their bound', () => {
    const [E, V] = [32, 6];
    const x = randn(3 * E, 9);
    x.fill(0, E, 2 * E);
    const { got, w, scale, xs } = runU7(3, V, E, 9, x);
    expect(Array.from(got.subarray(V, 2 * V))).toEqual([0, 0, 0, 0, 0, 0]);
    const ref = headRef(x, 3, w, V, E, scale);
    for (const r of [0, 2])
      for (let v = 0; v < V; v++) {
        const absW = w.subarray(v * E, (v + 1) * E).reduce((a, b) => a + Math.abs(b), 0);
        expect(Math.abs(got[r * V + v]! - ref[r * V + v]!)).toBeLessThanOrEqual(scale[v]! * (xs[r]! / 2) * absW * (1 + 1e-6));
      }
  });

  it('rejects E not a multiple of 16 and buffers outside the memory', () => {
    const q = { xq: 16, xs: 16, zp: 16 };
    expect(() => k.headU7(q, 1, 24, 16, 1, 16, 16, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
    expect(() => k.headU7(q, 1, 16, k.heapBytes() - 8, 1, 16, 16, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_BOUNDS' }));
  });
});

describe('headF32', () => {
  const cases: [rows: number, V: number, E: number][] = [
    [1, 1, 4],
    [2, 3, 16],
    [3, 5, 128],
    [1, 4, 768],
    [2, 1003, 768],
    [1, 50257, 16],
    [3, 2049, 132],
  ];
  for (const [rows, V, E] of cases) {
    it(`rows=${rows} V=${V} E=${E}: within γ_E of the float64 reference`, () => {
      const x = randn(rows * E, V + E);
      const w = randn(V * E, V + E + 1, 0.05);
      const [px, pw, po] = [put(k, x), put(k, w), k.alloc(rows * V * 4)];
      k.headF32(px, rows, pw, V, E, po);
      const got = k.f32(po, rows * V);
      const ref = headRef(x, rows, w, V, E);
      for (let r = 0; r < rows; r++) {
        for (let v = 0; v < V; v++) {
          let absSum = 0;
          for (let e = 0; e < E; e++) absSum += Math.abs(x[r * E + e]! * w[v * E + e]!);
          const err = Math.abs(got[r * V + v]! - ref[r * V + v]!);
          if (err > (E + 2) * EPS32 * absSum) expect.fail(`r=${r} v=${v}: error ${err} > γ bound`);
        }
      }
      [px, pw, po].forEach((p) => k.free(p));
    });
  }

  it('rejects E not a multiple of 4', () => {
    expect(() => k.headF32(16, 1, 16, 1, 6, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
  });

  it('frees everything it allocated except its reusable scratch', () => {
    // scratch (attend's scores) is the only allocation the wrapper keeps
    expect(k.liveBytes()).toBeLessThanOrEqual(16 * 1024);
  });
});

/**
 * head_i8 / head_f32 against float64 references on seeded data.
 *
 * Tolerances:
 * - headInt8 is compared with the reference computed on the *same* int8 weights and scales, so the
 *   only approximation is x's 14-bit quantization: |x - xs·xq| ≤ xs/2 per element, hence
 *   |out - ref| ≤ scale[v]·(xs/2)·Σ_e|w[v,e]|, plus f32 rounding of the final two products (≤ 3 ulp
 *   of the result; we allow 1e-6 relative). The bound is rigorous, not a fudge factor.
 *   A second check redoes the kernel's exact integer math in JS (same quantization, exact Σ) and
 *   must agree to 1e-6 relative: that pins the kernel down far tighter than the bound above.
 * - headF32 sums E f32 products in 4 lanes: the worst-case error of recursive f32 summation is
 *   ≈ E·2^-24·Σ|x·w| (γ_E); we allow exactly that.
 */
import { describe, expect, it } from 'vitest';
import { headRef, randInt8, randn } from './reference.ts';
import { freshKernels, put } from './wasm.ts';

const k = freshKernels();
const EPS32 = 2 ** -24;

/** The kernel's own quantization of one row, redone in JS (f32 ops, ties to even like f32x4.nearest). */
function quantizeRow(x: Float32Array): { xq: Int16Array; xs: number } {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  const inv = m > 0 ? Math.fround(8191 / m) : 0;
  const xs = m > 0 ? Math.fround(m / 8191) : 0;
  const xq = new Int16Array(x.length);
  for (let e = 0; e < x.length; e++) {
    const y = Math.fround(x[e]! * inv);
    const r = Math.round(y);
    xq[e] = r - y === 0.5 && r % 2 !== 0 ? r - 1 : r; // Math.round rounds ties up; nearest rounds ties to even
  }
  return { xq, xs };
}

function runInt8(rows: number, V: number, E: number, seed: number, x = randn(rows * E, seed)) {
  const w = randInt8(V * E, seed + 1);
  const scale = randn(V, seed + 2, 0.01).map(Math.abs);
  const [px, pw, ps, po] = [put(k, x), put(k, w), put(k, scale), k.alloc(rows * V * 4)];
  k.headInt8(px, rows, pw, ps, V, E, po);
  const got = k.f32(po, rows * V).slice();
  [px, pw, ps, po].forEach((p) => k.free(p));
  return { x, w, scale, got };
}

describe('headInt8', () => {
  const cases: [rows: number, V: number, E: number][] = [
    [1, 1, 16],
    [2, 3, 16],
    [3, 5, 128],
    [1, 4, 768],
    [2, 7, 768],
    [3, 1003, 128],
    [1, 50257, 768],
  ];
  for (const [rows, V, E] of cases) {
    it(`rows=${rows} V=${V} E=${E}: within the 14-bit quantization bound of the int8 reference`, () => {
      const { x, w, scale, got } = runInt8(rows, V, E, rows * 1000 + V + E);
      const ref = headRef(x, rows, w, V, E, scale);
      let worst = 0;
      for (let r = 0; r < rows; r++) {
        const { xq, xs } = quantizeRow(x.subarray(r * E, (r + 1) * E));
        for (let v = 0; v < V; v++) {
          let absW = 0;
          let exact = 0; // the kernel's integer sum, exact in float64 (|Σ| < 2^31)
          for (let e = 0; e < E; e++) {
            absW += Math.abs(w[v * E + e]!);
            exact += xq[e]! * w[v * E + e]!;
          }
          const o = got[r * V + v]!;
          const want = ref[r * V + v]!;
          const bound = scale[v]! * (xs / 2) * absW + 1e-6 * Math.abs(want);
          worst = Math.max(worst, Math.abs(o - want) / bound);
          const same = exact * xs * scale[v]!;
          if (Math.abs(o - same) > 1e-6 * Math.abs(same) + 1e-30) expect.fail(`r=${r} v=${v}: ${o} vs exact-int ${same}`);
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(worst).toBeGreaterThan(0); // the comparison is not vacuous: quantization error is visible
    });
  }

  it('a row gives the same bits alone or in a call of 2–5 rows (rows run in pairs, an odd one alone)', () => {
    const [V, E] = [1003, 768];
    const x = randn(5 * E, 77);
    const alone = Array.from({ length: 5 }, (_, r) => runInt8(1, V, E, 5, x.slice(r * E, (r + 1) * E)).got);
    for (const rows of [2, 3, 4, 5]) {
      const { got } = runInt8(rows, V, E, 5, x.slice(0, rows * E));
      for (let r = 0; r < rows; r++) expect(got.subarray(r * V, (r + 1) * V)).toEqual(alone[r]);
    }
  });

  it('E=2048 at the overflow bound: Σ = 2048·8191·128 is exact', () => {
    const E = 2048;
    const x = new Float32Array(E).fill(-3); // → xq = -8191 everywhere
    const w = new Int8Array(2 * E).fill(-128);
    const scale = new Float32Array([1, 2]);
    const [px, pw, ps, po] = [put(k, x), put(k, w), put(k, scale), k.alloc(8)];
    k.headInt8(px, 1, pw, ps, 2, E, po);
    const xs = Math.fround(3 / 8191);
    const [o0, o1] = k.f32(po, 2);
    expect(o0).toBeCloseTo(2048 * 8191 * 128 * xs, 0); // a wrapped i32 would be negative
    expect(o0).toBeGreaterThan(0);
    expect(o1! / o0!).toBeCloseTo(2, 6);
    [px, pw, ps, po].forEach((p) => k.free(p));
  });

  it('a row of zeros gives zeros (not NaN); other rows are unaffected', () => {
    const E = 32;
    const x = randn(3 * E, 9);
    x.fill(0, E, 2 * E);
    const { got, w, scale } = runInt8(3, 6, E, 9, x);
    expect(Array.from(got.subarray(6, 12))).toEqual([0, 0, 0, 0, 0, 0]);
    const ref = headRef(x, 3, w, 6, E, scale);
    for (const i of [0, 5, 12, 17]) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(1e-3 * Math.abs(ref[i]!) + 1e-4);
  });

  it('rejects E not a multiple of 16, E > 2048, and buffers outside the memory', () => {
    expect(() => k.headInt8(16, 1, 16, 16, 1, 24, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
    expect(() => k.headInt8(16, 1, 16, 16, 1, 2064, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
    expect(() => k.headInt8(16, 1, k.heapBytes() - 8, 16, 1, 16, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_BOUNDS' }));
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
    // scratch (headInt8's xq, attend's scores) is the only allocation the wrapper keeps
    expect(k.liveBytes()).toBeLessThanOrEqual(16 * 1024);
  });
});

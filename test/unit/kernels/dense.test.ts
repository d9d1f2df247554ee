/**
 * The dense-layer kernels (quant_u7, linear_u7, layer_norm, gelu_new) against JS references on seeded data.
 *
 * - quantU7 and linearU7 are redone exactly in JS: the same f32 operations in the same order (Math.fround
 *   after each), ties to even like f32x4.nearest, exact integer sums. They must agree bit for bit, and a
 *   row's outputs must be the same bits alone as inside any batch (what continuous batching relies on).
 * - A second check bounds linearU7 against the float64 product on the unquantized x: per element the
 *   quantization error is ≤ s_r/2, so |out - ref| ≤ ws[n]·(s_r/2)·Σ_k|w[n,k]| plus f32 rounding.
 * - layerNorm is compared with a float64 reference to 1e-5 relative to the row's scale; geluNew with
 *   float64 tanh to 2e-6 absolute + relative (its exp has ≤ 3e-7 relative error).
 */
import { describe, expect, it } from 'vitest';
import { interleaveColumns4 } from '../../../scripts/convert/quantize.ts';
import { headU7Ref, linearRef, quantRow, randInt8, randn } from './reference.ts';
import { runLinearU7 } from './calls.ts';
import { freshKernels, put, runHeadU7 } from './wasm.ts';

const k = freshKernels();
describe('quantU7 + linearU7', () => {
  const cases: [M: number, K: number, N: number][] = [
    [1, 16, 4],
    [2, 32, 8],
    [3, 64, 12],
    [5, 256, 20],
    [8, 768, 64],
  ];
  it.each(cases)('M=%i K=%i N=%i: bit-identical to the JS redo of its integer math', (M, K, N) => {
    const x = randn(M * K, 11 + M, 2);
    x[3] = 40; // an outlier, as GPT-2's activations have
    const w = randInt8(N * K, 12 + K);
    const ws = randn(N, 13, 0.01).map(Math.abs);
    const bias = randn(N, 14, 0.1);
    const { q, out } = runLinearU7(k, x, M, K, w, N, ws, bias);
    for (let r = 0; r < M; r++) {
      const ref = quantRow(x.subarray(r * K, (r + 1) * K));
      expect(q.xs[r]).toBe(ref.s);
      expect(q.zp[r]).toBe(ref.zp);
      expect(q.xq.subarray(r * K, (r + 1) * K)).toEqual(ref.xq);
    }
    expect(out).toEqual(linearRef(x, M, K, w, N, ws, bias));
  });

  it('adds into the output when asked (the residual)', () => {
    const [M, K, N] = [3, 64, 8];
    const x = randn(M * K, 21);
    const w = randInt8(N * K, 22);
    const ws = randn(N, 23, 0.01).map(Math.abs);
    const bias = randn(N, 24, 0.1);
    const base = randn(M * N, 25);
    expect(runLinearU7(k, x, M, K, w, N, ws, bias, base).out).toEqual(linearRef(x, M, K, w, N, ws, bias, base));
  });

  it('is within the quantization bound of the float64 product', () => {
    const [M, K, N] = [4, 768, 16];
    const x = randn(M * K, 31);
    const w = randInt8(N * K, 32);
    const ws = randn(N, 33, 0.01).map(Math.abs);
    const bias = new Float32Array(N);
    const { q, out } = runLinearU7(k, x, M, K, w, N, ws, bias);
    for (let r = 0; r < M; r++)
      for (let n = 0; n < N; n++) {
        let exact = 0;
        let l1 = 0;
        for (let kk = 0; kk < K; kk++) {
          exact += x[r * K + kk]! * w[n * K + kk]!;
          l1 += Math.abs(w[n * K + kk]!);
        }
        exact *= ws[n]!;
        const bound = ws[n]! * (q.xs[r]! / 2) * l1 + 1e-6 * Math.abs(exact);
        expect(Math.abs(out[r * N + n]! - exact)).toBeLessThanOrEqual(bound);
      }
  });

  it('gives every row the same bits alone as in a batch of any size', () => {
    const [K, N] = [256, 12];
    const w = randInt8(N * K, 41);
    const ws = randn(N, 42, 0.01).map(Math.abs);
    const bias = randn(N, 43, 0.1);
    const rows = randn(7 * K, 44, 3);
    const alone = Array.from({ length: 7 }, (_, r) => runLinearU7(k, rows.slice(r * K, (r + 1) * K), 1, K, w, N, ws, bias).out);
    for (const M of [2, 5, 7]) {
      const { out } = runLinearU7(k, rows.slice(0, M * K), M, K, w, N, ws, bias);
      for (let r = 0; r < M; r++) expect(out.subarray(r * N, (r + 1) * N)).toEqual(alone[r]);
    }
  });

  it('maps an all-zero row to the bias', () => {
    const [M, K, N] = [1, 32, 4];
    const bias = Float32Array.from([1, -2, 3, 0.5]);
    const { q, out } = runLinearU7(k, new Float32Array(M * K), M, K, randInt8(N * K, 51), N, Float32Array.from([1, 1, 1, 1]), bias);
    expect(q.xs[0]).toBe(1);
    expect(q.zp[0]).toBe(0);
    expect(out).toEqual(bias);
  });

  it('refuses shapes it cannot run', () => {
    const p = k.alloc(4096);
    expect(() => k.quantU7(p, 1, 24, p, p, p)).toThrow(/multiple of 16/);
    expect(() => k.linearU7({ xq: p, xs: p, zp: p }, 1, 16, { w: p, N: 6, colsum: p, scale: p, bias: p }, p, false)).toThrow(
      /multiple of 4/,
    );
    k.free(p);
  });
});

describe('headU7 (the int8 LM head on 7-bit rows) + rowSumI8', () => {
  const cases: [rows: number, V: number, E: number][] = [
    [1, 1, 16],
    [1, 7, 32],
    [2, 9, 64],
    [3, 13, 128],
    [8, 37, 256],
  ];
  const run = (rows: number, V: number, E: number, x: Float32Array, w: Int8Array, scale: Float32Array) =>
    runHeadU7(k, rows, V, E, x, w, scale).got;

  it.each(cases)('rows=%i V=%i E=%i: bit-identical to the JS redo (pairs, the odd row, the V %% 4 tail)', (rows, V, E) => {
    const x = randn(rows * E, 81 + rows);
    const w = randInt8(V * E, 82 + V);
    const scale = randn(V, 83, 0.01).map(Math.abs);
    expect(run(rows, V, E, x, w, scale)).toEqual(headU7Ref(x, rows, w, V, E, scale));
  });

  it('gives a row the same logits alone as in a batch', () => {
    const [V, E] = [11, 64];
    const w = randInt8(V * E, 91);
    const scale = randn(V, 92, 0.01).map(Math.abs);
    const x = randn(5 * E, 93, 2);
    const alone = Array.from({ length: 5 }, (_, r) => run(1, V, E, x.slice(r * E, (r + 1) * E), w, scale));
    const all = run(5, V, E, x, w, scale);
    for (let r = 0; r < 5; r++) expect(all.subarray(r * V, (r + 1) * V)).toEqual(alone[r]);
  });

  it('rowSumI8 sums each row', () => {
    const [V, E] = [5, 48];
    const w = randInt8(V * E, 95);
    const [pw, po] = [put(k, w), k.alloc(V * 4)];
    k.rowSumI8(pw, V, E, po);
    const got = new Int32Array(k.bytes(po, V * 4).slice().buffer);
    [pw, po].forEach((p) => k.free(p));
    for (let v = 0; v < V; v++) expect(got[v]).toBe(w.subarray(v * E, (v + 1) * E).reduce((a, b) => a + b, 0));
  });

  it.each([
    [4, 16],
    [9, 48],
    [15, 768],
  ])('interleave4 (N=%i K=%i) reorders in place as the converter interleaves linear weights, the N %% 4 tail untouched', (N, K) => {
    const w = randInt8(N * K, 96 + N);
    const pw = put(k, w);
    k.interleave4(pw, N, K);
    const got = k.i8(pw, N * K).slice();
    k.free(pw);
    const N4 = N & ~3;
    expect(got.subarray(0, N4 * K)).toEqual(interleaveColumns4(w.subarray(0, N4 * K), N4, K));
    expect(got.subarray(N4 * K)).toEqual(w.subarray(N4 * K));
  });
});

describe('layerNorm', () => {
  it('matches a float64 layer norm', () => {
    const [M, E] = [3, 768];
    const x = randn(M * E, 61, 5);
    const gamma = randn(E, 62);
    const beta = randn(E, 63);
    const [px, pg, pb, po] = [put(k, x), put(k, gamma), put(k, beta), k.alloc(M * E * 4)];
    k.layerNorm(px, M, E, pg, pb, 1e-5, po);
    const got = k.f32(po, M * E).slice();
    [px, pg, pb, po].forEach((p) => k.free(p));
    for (let r = 0; r < M; r++) {
      const row = x.subarray(r * E, (r + 1) * E);
      const mean = row.reduce((a, b) => a + b, 0) / E;
      const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / E;
      for (let e = 0; e < E; e++) {
        const ref = ((row[e]! - mean) / Math.sqrt(v + 1e-5)) * gamma[e]! + beta[e]!;
        expect(Math.abs(got[r * E + e]! - ref)).toBeLessThanOrEqual(1e-5 * (Math.abs(gamma[e]!) * 4 + Math.abs(beta[e]!) + 1));
      }
    }
  });
});

describe('geluNew', () => {
  it('matches the float64 tanh approximation, including large |x|', () => {
    const x = Float32Array.from([...randn(252, 71, 3), -100, -12, 12, 100]);
    const p = put(k, x);
    k.geluNew(p, x.length);
    const got = k.f32(p, x.length).slice();
    k.free(p);
    x.forEach((v, i) => {
      const ref = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
      expect(Math.abs(got[i]! - ref)).toBeLessThanOrEqual(2e-6 * (1 + Math.abs(ref)));
    });
  });
});

/**
 * attend / kvAppend / the in-module vectorised exp against float64 references on seeded data.
 *
 * Tolerance for attend: every step is f32 (q·k over hd terms, the softmax sum over n = past+T
 * terms, p·v over n terms); the worst-case error of an f32 sum of m terms is ≈ m·2^-24 of the sum of
 * magnitudes (γ_m). Outputs are convex combinations of v, so we allow (hd + n + 8)·2^-24·max|v| per
 * output plus the score error carried through the softmax (scores are O(1) here, so the same order).
 * With n ≤ 512 and hd ≤ 64 that is ≤ 3.5e-5·max|v|; observed errors are far smaller.
 */
import { describe, expect, it } from 'vitest';
import type { Kernels } from '../../../worker/kernels/kernels.ts';
import { attendRef, randn } from './reference.ts';
import { freshKernels, kernelModule, put } from './wasm.ts';

const k = freshKernels();
const EPS32 = 2 ** -24;

interface Case {
  T: number;
  past: number;
  H: number;
  hd: number;
  cap: number;
}

/** A cache [H, cap, hd] holding past+T valid positions (the rest is junk: it must not be read). */
function setup(c: Case, seed: number) {
  const q = randn(c.T * c.H * c.hd, seed);
  const kc = randn(c.H * c.cap * c.hd, seed + 1);
  const vc = randn(c.H * c.cap * c.hd, seed + 2);
  return { q, kc, vc };
}

function run(kern: Kernels, c: Case, q: Float32Array, kc: Float32Array, vc: Float32Array): Float32Array {
  const [pq, pk, pv, po] = [put(kern, q), put(kern, kc), put(kern, vc), kern.alloc(q.byteLength)];
  kern.attend(pq, c.T, c.past, pk, pv, c.cap, c.H, c.hd, po);
  const out = kern.f32(po, q.length).slice();
  [pq, pk, pv, po].forEach((p) => kern.free(p));
  return out;
}

describe('attend', () => {
  const cases: Case[] = [
    { T: 1, past: 0, H: 4, hd: 32, cap: 8 },
    { T: 1, past: 5, H: 4, hd: 32, cap: 6 },
    { T: 1, past: 511, H: 12, hd: 64, cap: 512 },
    { T: 7, past: 0, H: 4, hd: 32, cap: 16 },
    { T: 7, past: 3, H: 12, hd: 64, cap: 10 },
    { T: 1, past: 31, H: 12, hd: 64, cap: 64 },
    { T: 3, past: 2, H: 1, hd: 4, cap: 5 },
  ];
  for (const c of cases) {
    it(`T=${c.T} past=${c.past} H=${c.H} hd=${c.hd} cap=${c.cap}: matches float64 within γ bounds`, () => {
      const { q, kc, vc } = setup(c, c.T * 100 + c.past + c.H);
      const got = run(k, c, q, kc, vc);
      const ref = attendRef(q, c.T, c.past, kc, vc, c.cap, c.H, c.hd);
      let maxV = 0;
      for (const x of vc) maxV = Math.max(maxV, Math.abs(x));
      const tol = (c.hd + c.past + c.T + 8) * EPS32 * maxV;
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
      expect(worst).toBeLessThanOrEqual(tol);
    });
  }

  it('is causal: changing a future key/value leaves earlier positions bit-identical', () => {
    const c: Case = { T: 7, past: 3, H: 4, hd: 32, cap: 12 };
    const { q, kc, vc } = setup(c, 77);
    const before = run(k, c, q, kc, vc);
    const last = c.past + c.T - 1; // position of the last new token: visible only to query i = T-1
    for (let h = 0; h < c.H; h++) {
      for (let j = 0; j < c.hd; j++) {
        kc[(h * c.cap + last) * c.hd + j] = 5;
        vc[(h * c.cap + last) * c.hd + j] = -9;
      }
    }
    const after = run(k, c, q, kc, vc);
    const row = c.H * c.hd;
    expect(Array.from(after.subarray(0, (c.T - 1) * row))).toEqual(Array.from(before.subarray(0, (c.T - 1) * row)));
    expect(Array.from(after.subarray((c.T - 1) * row))).not.toEqual(Array.from(before.subarray((c.T - 1) * row)));
    // positions ≥ past+T (junk in the cache) are never read at all
    for (let h = 0; h < c.H; h++) kc.fill(NaN, (h * c.cap + c.past + c.T) * c.hd, (h + 1) * c.cap * c.hd);
    expect(Array.from(run(k, c, q, kc, vc))).toEqual(Array.from(after));
  });

  it('a T=7 prefill equals 7 single-token steps, bit for bit', () => {
    const c: Case = { T: 7, past: 2, H: 12, hd: 64, cap: 9 };
    const { q, kc, vc } = setup(c, 5);
    const prefill = run(k, c, q, kc, vc);
    const row = c.H * c.hd;
    for (let i = 0; i < c.T; i++) {
      const step = run(k, { ...c, T: 1, past: c.past + i }, q.slice(i * row, (i + 1) * row), kc, vc);
      expect(Array.from(step)).toEqual(Array.from(prefill.subarray(i * row, (i + 1) * row)));
    }
  });

  it('rejects hd % 4 != 0 and past + T > cap', () => {
    expect(() => k.attend(16, 1, 0, 16, 16, 4, 1, 6, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
    expect(() => k.attend(16, 2, 3, 16, 16, 4, 1, 4, 16)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
  });
});

describe('kvAppend', () => {
  it('writes [T, stride] rows into [H, cap, hd] at past..past+T-1 and nothing else', () => {
    const [T, H, hd, cap, past] = [3, 4, 8, 10, 5];
    const stride = 3 * H * hd; // src points at the k third of a fused qkv row
    const qkv = randn(T * stride, 3);
    const cache = new Float32Array(H * cap * hd).fill(-1);
    const [ps, pd] = [put(k, qkv), put(k, cache)];
    k.kvAppend(ps + H * hd * 4, T, stride, H, hd, pd, cap, past);
    const got = k.f32(pd, cache.length);
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < cap; t++) {
        for (let j = 0; j < hd; j++) {
          const i = t - past;
          const want = i >= 0 && i < T ? qkv[i * stride + H * hd + h * hd + j]! : -1;
          if (got[(h * cap + t) * hd + j] !== want) expect.fail(`h=${h} t=${t} j=${j}`);
        }
      }
    }
    k.free(ps);
    k.free(pd);
    expect(() => k.kvAppend(ps, 2, H * hd, H, hd, pd, cap, cap - 1)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
  });
});

describe('exp4 (vectorised, used by the softmax)', () => {
  const inst = new WebAssembly.Instance(kernelModule()).exports as {
    memory: WebAssembly.Memory;
    exp4_array(src: number, dst: number, n: number): void;
  };

  it('relative error ≤ 3e-7 on [-87.3, 0]; 0 below; exactly 1 at 0', () => {
    const n = 40_000;
    inst.memory.grow(Math.ceil((8 * n) / 65536));
    const x = new Float32Array(inst.memory.buffer, 0, n);
    for (let i = 0; i < n; i++) x[i] = -87.3 * (i / (n - 1)) ** 2; // dense near 0, where softmax weights live
    inst.exp4_array(0, n * 4, n);
    const y = new Float32Array(inst.memory.buffer, n * 4, n);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(y[i]! - Math.exp(x[i]!)) / Math.exp(x[i]!));
    expect(worst).toBeLessThanOrEqual(3e-7);
    x.set([0, -88, -1000, -Infinity]);
    inst.exp4_array(0, n * 4, 4);
    expect(Array.from(new Float32Array(inst.memory.buffer, n * 4, 4))).toEqual([1, 0, 0, 0]);
  });
});

/** Plain float64 references for the kernels, and seeded test data. */

/** mulberry32: small and seeded; uniform in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Approximately normal (sum of 4 uniforms), scaled. */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() + r() + r() + r() - 2) * 1.7 * scale;
  return out;
}

export function randInt8(n: number, seed: number): Int8Array {
  const r = rng(seed);
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256) - 128; // full range, -128 included
  return out;
}

/** out [rows, V] = Σ_e x[r,e]·w[v,e]·scale[v] in float64 (scale omitted: 1). */
export function headRef(x: Float32Array, rows: number, w: ArrayLike<number>, V: number, E: number, scale?: Float32Array): Float64Array {
  const out = new Float64Array(rows * V);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let e = 0; e < E; e++) s += x[r * E + e]! * w[v * E + e]!;
      out[r * V + v] = s * (scale ? scale[v]! : 1);
    }
  }
  return out;
}

/** Causal attention in float64. q [T, H*hd], k/v [H, cap, hd] → out [T, H*hd]. */
export function attendRef(
  q: Float32Array,
  T: number,
  past: number,
  k: Float32Array,
  v: Float32Array,
  cap: number,
  H: number,
  hd: number,
): Float64Array {
  const out = new Float64Array(T * H * hd);
  const scale = 1 / Math.sqrt(hd);
  for (let i = 0; i < T; i++) {
    const n = past + i + 1;
    for (let h = 0; h < H; h++) {
      const s = new Float64Array(n);
      for (let t = 0; t < n; t++) {
        let d = 0;
        for (let j = 0; j < hd; j++) d += q[i * H * hd + h * hd + j]! * k[(h * cap + t) * hd + j]!;
        s[t] = d * scale;
      }
      const mx = Math.max(...s);
      let sum = 0;
      for (let t = 0; t < n; t++) sum += s[t] = Math.exp(s[t]! - mx);
      for (let j = 0; j < hd; j++) {
        let acc = 0;
        for (let t = 0; t < n; t++) acc += s[t]! * v[(h * cap + t) * hd + j]!;
        out[i * H * hd + h * hd + j] = acc / sum;
      }
    }
  }
  return out;
}

const f = Math.fround;
const nearest = (y: number) => {
  const r = Math.round(y);
  return r - y === 0.5 && r % 2 !== 0 ? r - 1 : r; // Math.round rounds ties up; nearest rounds ties to even
};

/** quant_u7 of one row redone in JS: the kernel's f32 operations in its order (Math.fround after each). */
export function quantRow(x: Float32Array): { xq: Uint8Array; s: number; zp: number } {
  let lo = 0;
  let hi = 0;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  let s = f(f(hi - lo) / 127);
  if (s === 0) s = 1;
  const zp = Math.min(127, Math.max(0, nearest(f(-lo / s))));
  const inv = f(1 / s);
  const xq = Uint8Array.from(x, (v) => Math.min(127, Math.max(0, nearest(f(v * inv)) + zp)));
  return { xq, s, zp };
}

/**
 * quant_u7 + linear_u7 redone in JS: exact integer sums, then the epilogue's f32 operations in order. A null
 * `bias` adds none (the kernel's bias pointer -1, as head_u7 calls it).
 */
export function linearRef(
  x: Float32Array,
  M: number,
  K: number,
  w: Int8Array,
  N: number,
  ws: Float32Array,
  bias: Float32Array | null,
  base?: Float32Array,
) {
  const out = new Float32Array(M * N);
  for (let r = 0; r < M; r++) {
    const { xq, s, zp } = quantRow(x.subarray(r * K, (r + 1) * K));
    for (let n = 0; n < N; n++) {
      let acc = 0;
      let colsum = 0;
      for (let kk = 0; kk < K; kk++) {
        acc += w[n * K + kk]! * xq[kk]!;
        colsum += w[n * K + kk]!;
      }
      let y = f(f(acc - zp * colsum) * f(s * ws[n]!));
      if (bias) y = f(y + bias[n]!);
      if (base) y = f(base[r * N + n]! + y);
      out[r * N + n] = y;
    }
  }
  return out;
}

export function colsums(w: Int8Array, N: number, K: number): Int32Array {
  const c = new Int32Array(N);
  for (let n = 0; n < N; n++) for (let kk = 0; kk < K; kk++) c[n] = c[n]! + w[n * K + kk]!;
  return c;
}

/**
 * quant_u7 + head_u7 redone in JS: out [rows, V] = s_r·scale[v]·(Σ_e w[v,e]·xq[r,e] - zp_r·Σ_e w[v,e]), which is
 * linear_u7 over w [V, E] without a bias — as the kernel computes it, the last V % 4 vocab rows included.
 */
export function headU7Ref(x: Float32Array, rows: number, w: Int8Array, V: number, E: number, scale: Float32Array): Float32Array {
  return linearRef(x, rows, E, w, V, scale, null);
}

/**
 * Micro-benchmark of the kernels at GPT-2-small shapes: median ms per call over 20 calls (after 3
 * warm-up calls), random data. `npx tsx scripts/kernels/micro.ts`
 *   head_u7 / head_f32: E=768, V=50257, rows=1 (one decode step's logits; head_u7 includes quant_u7. In
 *   Node 20 the kernels run their baseline-SIMD build: workerd runs the relaxed-SIMD one)
 *   attend: H=12 hd=64 T=1 at past 31/255/511, 12 calls on 12 separate caches (= one token's 12 layers)
 */
import { kernelBuild, nodeKernels } from '../../worker/kernels/node.ts';

const k = nodeKernels();
const CALLS = 20;
const WARMUP = 3;

function median(fn: () => void): number {
  for (let i = 0; i < WARMUP; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[CALLS >> 1]!;
}

/** Fills `n` floats (or bytes) at ptr with cheap pseudo-random values. */
function fill(ptr: number, n: number, kind: 'f32' | 'i8'): void {
  let s = 0x9e3779b9;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  if (kind === 'f32') k.f32(ptr, n).forEach((_, i, a) => (a[i] = next()));
  else k.i8(ptr, n).forEach((_, i, a) => (a[i] = Math.floor(next() * 127)));
}

const rows: [string, number][] = [];
const [E, V] = [768, 50257];

{
  const x = k.alloc(E * 4),
    out = k.alloc(V * 4),
    w = k.alloc(V * E),
    scale = k.alloc(V * 4),
    sums = k.alloc(V * 4),
    q = { xq: k.alloc(E), xs: k.alloc(4), zp: k.alloc(4) };
  fill(x, E, 'f32');
  fill(w, V * E, 'i8');
  fill(scale, V, 'f32');
  k.rowSumI8(w, V, E, sums);
  rows.push([
    'head_u7  E=768 V=50257 rows=1',
    median(() => {
      k.quantU7(x, 1, E, q.xq, q.xs, q.zp);
      k.headU7(q, 1, E, w, V, sums, scale, out);
    }),
  ]);
  [x, out, w, scale, sums, q.xq, q.xs, q.zp].forEach(k.free);
}
{
  const x = k.alloc(E * 4),
    out = k.alloc(V * 4),
    w = k.alloc(V * E * 4);
  fill(x, E, 'f32');
  fill(w, V * E, 'f32');
  rows.push(['head_f32 E=768 V=50257 rows=1', median(() => k.headF32(x, 1, w, V, E, out))]);
  [x, out, w].forEach(k.free);
}
const [H, hd, LAYERS] = [12, 64, 12];
for (const past of [31, 255, 511]) {
  const cap = past + 1;
  const q = k.alloc(H * hd * 4),
    out = k.alloc(H * hd * 4);
  fill(q, H * hd, 'f32');
  const caches = Array.from({ length: LAYERS }, () => {
    const kc = k.alloc(H * cap * hd * 4),
      vc = k.alloc(H * cap * hd * 4);
    fill(kc, H * cap * hd, 'f32');
    fill(vc, H * cap * hd, 'f32');
    return [kc, vc] as const;
  });
  rows.push([
    `attend   H=12 hd=64 T=1 past=${past} ×12 layers`,
    median(() => {
      for (const [kc, vc] of caches) k.attend(q, 1, past, kc, vc, cap, H, hd, out);
    }),
  ]);
  for (const [a, b] of caches) {
    k.free(a);
    k.free(b);
  }
  k.free(q);
  k.free(out);
}

console.log(`kernels micro-benchmark (Node ${process.versions.node}, ${kernelBuild} build, median of ${CALLS} calls, ms per call)`);
for (const [name, ms] of rows) console.log(`${name.padEnd(48)} ${ms.toFixed(2)} ms`);
console.log(`heap ${(k.heapBytes() / 2 ** 20).toFixed(0)} MiB, live ${k.liveBytes()} bytes`);

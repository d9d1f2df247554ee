/**
 * One GPT-2-small layer's four linears (c_attn 768→2304, attn c_proj 768→768, c_fc 768→3072, mlp c_proj
 * 3072→768; 7.08 M int8 weights, cache-resident at this size) at M rows per call, four ways:
 *   row     the converter's int8 linear with one activation scale per row (scripts/convert/row-int8.ts)
 *   tensor  ORT's DynamicQuantizeMatMul (one activation scale per call: not batch-invariant)
 *   fp32    MatMul + Add on float32 weights
 *   kernel  our linear_u7 (worker/kernels: rows quantized to 7 bits by quant_u7, int8 [N, K] weights in
 *           interleaved blocks of four columns) — the int8 default's dense layers. In Node 20 this runs the
 *           kernels' baseline-SIMD build (no relaxed SIMD there): workerd runs the faster one
 * ORT is onnxruntime-web's WASM build in Node (one thread), the same binary as in workerd. Prints ms per
 * call, GMAC/s and ms per row; median of 15 timed calls after 10 warm-up calls, from a second pass.
 * `npx tsx scripts/kernels/linear-micro.ts [rows, default 1,2,4,8,16,64] [--layers L]`
 * With --layers 12 the call chains twelve layers' linears with weights of their own (85 MB of int8, out of
 * cache, as in a GPT-2-small decode step), for `row`, `tensor` and `kernel` (fp32 would take 340 MB).
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { DT, GraphBuilder } from '../convert/onnx-builder.ts';
import { quantizeInt8Columns } from '../convert/quantize.ts';
import { columnSums, rowInt8Linear } from '../convert/row-int8.ts';
import { nodeOrt } from '../../worker/model/ort-node.ts';

const E = 768;
const INNER = 3072;
const SHAPES: [number, number][] = [
  [E, 3 * E],
  [E, E],
  [E, INNER],
  [INNER, E],
]; // [K, N]
const { values: args, positionals } = parseArgs({ allowPositionals: true, options: { layers: { type: 'string', default: '1' } } });
const LAYERS = Number(args.layers);
const MACS = LAYERS * SHAPES.reduce((a, [K, N]) => a + K * N, 0);
const ROWS = (positionals[0] ?? '1,2,4,8,16,64').split(',').map(Number);

let seed = 0x9e3779b9;
const next = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.1;
const weight = (K: number, N: number) => Float32Array.from({ length: K * N }, next);
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function median(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 10; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[7]!;
}

const report = (label: string, results: [number, number][]) =>
  console.log(
    `${label.padEnd(7)} ${results.map(([M, ms]) => `M=${M}: ${ms.toFixed(2)} ms (${((MACS * M) / ms / 1e6).toFixed(1)} GMAC/s, ${(ms / M).toFixed(2)} ms/row)`).join(' | ')}`,
  );

/** The four linears chained as in a layer (a slice after c_attn, FastGelu after c_fc). */
function graph(kind: 'row' | 'tensor' | 'fp32'): Uint8Array {
  const g = new GraphBuilder('linears');
  let x = g.input('x', DT.FLOAT, ['batch', 1, E]);
  for (let layer = 0; layer < LAYERS; layer++)
    SHAPES.forEach(([K, N], j) => {
      const i = `${layer}_${j}`;
      const bias = g.rawInitializer(`b${i}`, DT.FLOAT, [N], bytes(new Float32Array(N)));
      let y: string;
      if (kind === 'fp32') {
        y = g.op1('Add', [g.op1('MatMul', [x, g.rawInitializer(`w${i}`, DT.FLOAT, [K, N], bytes(weight(K, N)))]), bias]);
      } else {
        const { q, scale } = quantizeInt8Columns(weight(K, N), K, N);
        const W = g.rawInitializer(`w${i}`, DT.INT8, [K, N], bytes(q));
        const S = g.rawInitializer(`s${i}`, DT.FLOAT, [N], bytes(scale));
        y =
          kind === 'row'
            ? rowInt8Linear(g, x, W, g.rawInitializer(`c${i}`, DT.INT32, [N], bytes(columnSums(q, K, N))), S, bias)
            : g.op1('DynamicQuantizeMatMul', [x, W, S, '', bias], {}, { domain: 'com.microsoft' });
      }
      if (j === 0) y = g.op1('Slice', [y, g.constI64([0]), g.constI64([E]), g.constI64([2])]);
      if (j === 2) y = g.op1('FastGelu', [y], {}, { domain: 'com.microsoft' });
      x = y;
    });
  g.op1('Identity', [x], {}, { output: 'y' });
  g.output('y', DT.FLOAT, ['batch', 1, E]);
  return g.encode('linear-micro');
}

const runtime = nodeOrt();
for (const kind of LAYERS > 1 ? (['row', 'tensor'] as const) : (['row', 'tensor', 'fp32'] as const)) {
  const session = await ort.InferenceSession.create(graph(kind), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const results: [number, number][] = [];
  // Two passes over the row counts, the second reported: ORT's WASM is compiled lazily and tiered up by
  // use, so the first calls of a new shape or op ran up to 10× slower than later ones.
  for (const pass of [0, 1]) {
    for (const M of ROWS) {
      const x = new ort.Tensor('float32', Float32Array.from({ length: M * E }, next), [M, 1, E]);
      const ms = await median(() => session.run({ x }));
      if (pass) results.push([M, ms]);
    }
  }
  report(kind, results);
  await session.release();
}

const k = runtime.kernels!();
const weights = Array.from({ length: LAYERS }, () => SHAPES)
  .flat()
  .map(([K, N]) => {
    const w = k.alloc(N * K);
    const p = { N, K, w, colsum: k.alloc(N * 4), scale: k.alloc(N * 4), bias: k.alloc(N * 4) };
    k.i8(w, N * K).forEach((_, i, a) => (a[i] = Math.round(next() * 1270)));
    k.f32(p.scale, N).fill(0.01);
    k.f32(p.bias, N).fill(0);
    k.bytes(p.colsum, N * 4).fill(0); // the zero-point correction's values do not change the time
    return p;
  });
const maxRows = Math.max(...ROWS);
const x = k.alloc(maxRows * INNER * 4);
const out = k.alloc(maxRows * INNER * 4);
const q = { xq: k.alloc(maxRows * INNER), xs: k.alloc(maxRows * 4), zp: k.alloc(maxRows * 4) };
k.f32(x, maxRows * INNER).forEach((_, i, a) => (a[i] = next()));
const results: [number, number][] = [];
for (const M of ROWS)
  results.push([
    M,
    await median(() =>
      weights.forEach((p) => {
        k.quantU7(x, M, p.K, q.xq, q.xs, q.zp);
        k.linearU7(q, M, p.K, p, out, false);
      }),
    ),
  ]);
report('kernel', results);

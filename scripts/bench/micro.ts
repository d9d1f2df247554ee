/**
 * `tsx scripts/bench/micro.ts [--k 768] [--n 50257] [--m 1,128] [--runs 20]`: one linear layer y = x·W
 * [m, k]·[k, n] as a one-node graph under onnxruntime-web (WASM, one thread) in Node, for each way the
 * converter could store W. Answers "where do ORT's kernels set the floor": compare a decode step with
 * the sum of its matmuls. Weights are random (speed does not depend on values).
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { DT, GraphBuilder, onnx, type ExternalPlacement } from '../convert/onnx-builder.ts';
import { quantizeInt8Columns, quantizeQ4Rows, transpose } from '../convert/quantize.ts';
import { summarize } from './stats.ts';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const MS = 'com.microsoft';

interface Variant {
  name: string;
  build(
    g: GraphBuilder,
    x: string,
    w: Float32Array,
    K: number,
    N: number,
    place: (name: string, type: number, dims: number[], data: ArrayBufferView) => string,
  ): string;
}

const VARIANTS: Variant[] = [
  { name: 'fp32 MatMul', build: (g, x, w, K, N, place) => g.op1('MatMul', [x, place('w', DT.FLOAT, [K, N], w)]) },
  {
    name: 'int8 DynamicQuantizeMatMul, per-column scale (converter today)',
    build: (g, x, w, K, N, place) => {
      const { q, scale } = quantizeInt8Columns(w, K, N);
      return g.op1('DynamicQuantizeMatMul', [x, place('wq', DT.INT8, [K, N], q), place('s', DT.FLOAT, [N], scale)], {}, { domain: MS });
    },
  },
  {
    name: 'int8 DynamicQuantizeMatMul, one scale',
    build: (g, x, w, K, N, place) => {
      const amax = w.reduce((a, v) => Math.max(a, Math.abs(v)), 0) || 1;
      const q = Int8Array.from(w, (v) => Math.round((v / amax) * 127));
      return g.op1(
        'DynamicQuantizeMatMul',
        [x, place('wq', DT.INT8, [K, N], q), place('s', DT.FLOAT, [1], Float32Array.of(amax / 127))],
        {},
        { domain: MS },
      );
    },
  },
  {
    name: 'int8 DynamicQuantizeMatMul, unit scale, then × per-column scale',
    build: (g, x, w, K, N, place) => {
      const { q, scale } = quantizeInt8Columns(w, K, N);
      const y = g.op1(
        'DynamicQuantizeMatMul',
        [x, place('wq', DT.INT8, [K, N], q), place('one', DT.FLOAT, [1], Float32Array.of(1))],
        {},
        { domain: MS },
      );
      return g.op1('Mul', [y, place('s', DT.FLOAT, [N], scale)]);
    },
  },
  {
    name: 'int8 DQMM unit scale × per-column, N in 16 separate initializers',
    build: (g, x, w, K, N, place) => {
      const { q, scale } = quantizeInt8Columns(w, K, N);
      const size = Math.ceil(N / 16);
      const parts: string[] = [];
      const one = place('one', DT.FLOAT, [1], Float32Array.of(1));
      for (let a = 0, c = 0; a < N; a += size, c++) {
        const n = Math.min(size, N - a);
        const qc = new Int8Array(K * n); // [K, n] slice of [K, N]
        for (let k = 0; k < K; k++) qc.set(q.subarray(k * N + a, k * N + a + n), k * n);
        const y = g.op1('DynamicQuantizeMatMul', [x, place(`wq${c}`, DT.INT8, [K, n], qc), one], {}, { domain: MS });
        parts.push(g.op1('Mul', [y, place(`s${c}`, DT.FLOAT, [n], scale.slice(a, a + n))]));
      }
      return g.op1('Concat', parts, { axis: -1 });
    },
  },
  {
    name: 'int8 MatMulInteger (u8 activations, per-tensor)',
    build: (g, x, w, K, N, place) => {
      const amax = w.reduce((a, v) => Math.max(a, Math.abs(v)), 0) || 1;
      const q = Int8Array.from(w, (v) => Math.round((v / amax) * 127));
      const [xq, xs, xz] = g.op('DynamicQuantizeLinear', [x], {}, { outputs: 3 }) as [string, string, string];
      const acc = g.op1('MatMulInteger', [xq, place('wq', DT.INT8, [K, N], q), xz]);
      return g.op1('Mul', [g.op1('Cast', [acc], { to: DT.FLOAT }), g.op1('Mul', [xs, g.constF32([amax / 127], [])])]);
    },
  },
  {
    name: 'int8 MatMulInteger, per-column scale',
    build: (g, x, w, K, N, place) => {
      const { q, scale } = quantizeInt8Columns(w, K, N);
      return miPerColumn(g, x, place('wq', DT.INT8, [K, N], q), place('s', DT.FLOAT, [N], scale));
    },
  },
  {
    name: 'int8 MatMulInteger, per-column, N in 16 Slice chunks',
    build: (g, x, w, K, N, place) => {
      const { q, scale } = quantizeInt8Columns(w, K, N);
      const W = place('wq', DT.INT8, [K, N], q);
      const S = place('s', DT.FLOAT, [N], scale);
      const size = Math.ceil(N / 16);
      const parts: string[] = [];
      for (let a = 0; a < N; a += size) {
        const b = Math.min(N, a + size);
        // Slice of a constant is folded by ORT at session creation: each chunk becomes its own initializer.
        const Wc = g.op1('Slice', [W, g.constI64([a]), g.constI64([b]), g.constI64([1])]);
        const Sc = g.op1('Slice', [S, g.constI64([a]), g.constI64([b]), g.constI64([0])]);
        parts.push(miPerColumn(g, x, Wc, Sc));
      }
      return g.op1('Concat', parts, { axis: -1 });
    },
  },
  {
    name: 'MatMulNBits 8-bit, block 32',
    build: (g, x, w, K, N, place) => nbits(g, x, w, K, N, place, 8, 32),
  },
  {
    name: 'MatMulNBits 4-bit, block 32 (q4)',
    build: (g, x, w, K, N, place) => nbits(g, x, w, K, N, place, 4, 32),
  },
];

/** y = (xq − xz)·W · (xs ⊙ s): int8 GEMM via MatMulInteger, per-column dequantization on the small output. */
function miPerColumn(g: GraphBuilder, x: string, W: string, S: string): string {
  const [xq, xs, xz] = g.op('DynamicQuantizeLinear', [x], {}, { outputs: 3 }) as [string, string, string];
  const acc = g.op1('MatMulInteger', [xq, W, xz]);
  return g.op1('Mul', [g.op1('Cast', [acc], { to: DT.FLOAT }), g.op1('Mul', [xs, S])]);
}

function nbits(
  g: GraphBuilder,
  x: string,
  w: Float32Array,
  K: number,
  N: number,
  place: (n: string, t: number, d: number[], a: ArrayBufferView) => string,
  bits: 4 | 8,
  block: number,
): string {
  const blocks = Math.ceil(K / block);
  if (bits === 4) {
    const q4 = quantizeQ4Rows(transpose(w, K, N), N, K, block);
    return g.op1(
      'MatMulNBits',
      [x, place('wq', DT.UINT8, [N, blocks, block / 2], q4.data), place('s', DT.FLOAT, [N * blocks], q4.scales)],
      { K, N, bits, block_size: block },
      { domain: MS },
    );
  }
  // 8-bit, symmetric around the default zero point 128: q = round(v / scale) + 128.
  const wt = transpose(w, K, N); // [N, K]
  const data = new Uint8Array(N * blocks * block);
  const scales = new Float32Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      let amax = 0;
      for (let k = b * block; k < Math.min(K, (b + 1) * block); k++) amax = Math.max(amax, Math.abs(wt[n * K + k]!));
      const s = amax / 127 || 1;
      scales[n * blocks + b] = s;
      for (let k = b * block; k < Math.min(K, (b + 1) * block); k++)
        data[(n * blocks + b) * block + (k - b * block)] = Math.round(wt[n * K + k]! / s) + 128;
    }
  }
  return g.op1(
    'MatMulNBits',
    [x, place('wq', DT.UINT8, [N, blocks, block], data), place('s', DT.FLOAT, [N * blocks], scales)],
    { K, N, bits, block_size: block },
    { domain: MS },
  );
}

export async function timeVariant(
  v: Variant,
  K: number,
  N: number,
  ms: readonly number[],
  runs: number,
  inline = false,
): Promise<Record<number, number>> {
  const g = new GraphBuilder('micro');
  const x = g.input('x', DT.FLOAT, [1, 'm', K]);
  const w = new Float32Array(K * N);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 12.9898) * 0.05;
  const external: { path: string; data: Uint8Array }[] = [];
  const place = (name: string, type: number, dims: number[], data: ArrayBufferView) => {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    external.push({ path: `${name}.bin`, data: bytes });
    const at: ExternalPlacement = { location: () => `${name}.bin`, offset: 0, length: bytes.byteLength };
    return g.externalInitializer(name, type as never, dims, at);
  };
  g.op1('Identity', [v.build(g, x, w, K, N, place)], {}, { output: 'y' });
  g.output('y', DT.FLOAT, [1, 'm', N]);
  let graph = g.encode('micro');
  if (inline) {
    // Weights inside the .onnx (as transformers.js models ship) instead of external data from memory.
    const model = onnx.ModelProto.decode(graph);
    const byPath = new Map(external.map((e) => [e.path, e.data]));
    for (const t of model.graph!.initializer ?? []) {
      const loc = t.externalData?.find((e) => e.key === 'location')?.value;
      if (!loc) continue;
      t.rawData = byPath.get(loc)!;
      t.externalData = [];
      t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    }
    graph = onnx.ModelProto.encode(model).finish();
  }
  const session = await ort.InferenceSession.create(graph, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    ...(inline ? {} : { externalData: external }),
  });
  const out: Record<number, number> = {};
  for (const m of ms) {
    const feed = { x: new ort.Tensor('float32', new Float32Array(m * K).fill(0.1), [1, m, K]) };
    for (let i = 0; i < 2; i++) (await session.run(feed)).y!.dispose();
    const t: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      (await session.run(feed)).y!.dispose();
      t.push(performance.now() - t0);
    }
    out[m] = summarize(t).median;
  }
  await session.release();
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      k: { type: 'string', default: '768' },
      n: { type: 'string', default: '50257' },
      m: { type: 'string', default: '1,128' },
      runs: { type: 'string', default: '20' },
      only: { type: 'string' },
      inline: { type: 'boolean', default: false },
    },
  });
  const K = Number(values.k);
  const N = Number(values.n);
  const ms = values.m!.split(',').map(Number);
  console.log(
    `y = x·W, W [${K}, ${N}], onnxruntime-web ${ort.env.versions.web} WASM, 1 thread, weights ${values.inline ? 'inside the .onnx' : 'as external data'}; median of ${values.runs} runs, ms`,
  );
  for (const v of VARIANTS.filter((x) => !values.only || x.name.includes(values.only))) {
    try {
      const r = await timeVariant(v, K, N, ms, Number(values.runs), values.inline);
      console.log(`${v.name.padEnd(66)} ${ms.map((m) => `m=${m}: ${r[m]!.toFixed(2)}`).join('  ')}`);
    } catch (err) {
      console.log(`${v.name.padEnd(66)} failed: ${String((err as Error).message).slice(0, 120)}`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

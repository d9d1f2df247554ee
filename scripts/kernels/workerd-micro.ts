/**
 * The int8 kernels inside workerd (miniflare), the runtime the Worker has: ms per call of distilgpt2's six
 * layers of linear_u7 (42.5 M int8 weights: c_attn, attn c_proj, c_fc, mlp c_proj per layer) and of head_u7
 * over GPT-2's wte (50,257 × 768, reordered by interleave4 as the model loader does), at M rows per call.
 * Random data; the best of 6 requests, each the mean of `reps` calls (workerd's clock only moves between
 * I/O, so each request waits 1 ms before and after its calls, subtracted).
 *
 *   npx tsx scripts/kernels/workerd-micro.ts [--rows 1,2,3,4,5,6,8,16] [--reps 10] [--wasm path/to/gpt2-kernels.wasm]
 *
 * --wasm measures another build of the kernels, e.g. an earlier commit's (`git show <rev>:worker/kernels/
 * gpt2-kernels.wasm > old.wasm`); its head_u7 must take wte in the layout of that commit (--row-major-wte).
 * Run it alone on the machine: the numbers are compute and memory bandwidth of one core.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Miniflare } from 'miniflare';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1,2,3,4,5,6,8,16' },
    reps: { type: 'string', default: '10' },
    wasm: { type: 'string', default: path.join(ROOT, 'worker/kernels/gpt2-kernels.wasm') },
    'row-major-wte': { type: 'boolean', default: false },
  },
});

const dir = path.join(ROOT, '.tmp', 'kernels-micro');
mkdirSync(dir, { recursive: true });
copyFileSync(values.wasm!, path.join(dir, 'kernels.wasm'));
writeFileSync(
  path.join(dir, 'worker.mjs'),
  `import mod from './kernels.wasm';
const { linear_u7, head_u7, interleave4, memory } = new WebAssembly.Instance(mod, {}).exports;
const L = 6, SHAPES = [[768, 2304], [768, 768], [768, 3072], [3072, 768]], V = 50257, E = 768, MAXM = 64;
const layerBytes = L * SHAPES.reduce((a, [K, N]) => a + K * N, 0);
const base = 1 << 16, wte = base + layerBytes, xq = wte + V * E, xs = xq + MAXM * 3072, zp = xs + 4 * MAXM;
const colsum = zp + 4 * MAXM, scale = colsum + 4 * V, bias = scale + 4 * V, out = bias + 4 * V;
memory.grow(Math.ceil((out + MAXM * V * 4 - memory.buffer.byteLength) / 65536) + 1);
const i8 = new Int8Array(memory.buffer);
for (let i = base; i < xq; i++) i8[i] = ((Math.imul(i, 2654435761) >>> 24) - 128) | 0;
for (let i = 0; i < MAXM * 3072; i++) i8[xq + i] = (i * 7) & 127;
${values['row-major-wte'] ? '' : 'interleave4(wte, V & ~3, E, out);'}
new Float32Array(memory.buffer, xs, MAXM).fill(0.01);
function layers(M) {
  let w = base;
  for (let l = 0; l < L; l++) for (const [K, N] of SHAPES) { linear_u7(xq, M, K, w, N, colsum, scale, bias, xs, zp, out, 0); w += K * N; }
}
const head = (M) => head_u7(xq, M, E, wte, V, colsum, scale, xs, zp, out);
export default {
  async fetch(req) {
    const q = new URL(req.url).searchParams;
    const fn = q.get('f') === 'head' ? head : layers, M = Number(q.get('M')), reps = Number(q.get('reps'));
    fn(M);
    await scheduler.wait(1);
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn(M);
    await scheduler.wait(1);
    return new Response(String((performance.now() - t0 - 1) / reps));
  },
};
`,
);

const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(dir, 'worker.mjs'),
  modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
  compatibilityDate: '2025-01-01',
});
try {
  await mf.ready;
  const MACS = { layers: 6 * (768 * 2304 + 768 * 768 + 768 * 3072 * 2), head: 50257 * 768 };
  console.log(`kernels: ${path.relative(ROOT, values.wasm!)}; ms per call (best of 6), GMAC/s`);
  console.log('| rows | 6 layers (42.5 M weights) | GMAC/s | head (38.6 M) | GMAC/s |\n|---|---|---|---|---|');
  for (const M of values.rows!.split(',').map(Number)) {
    const cell = async (f: 'layers' | 'head') => {
      let best = Infinity;
      for (let i = 0; i < 6; i++) {
        const res = await mf.dispatchFetch(`http://micro/?f=${f}&M=${M}&reps=${values.reps}`);
        best = Math.min(best, Number(await res.text()));
      }
      return [best.toFixed(2), ((MACS[f] * M) / best / 1e6).toFixed(1)];
    };
    console.log(`| ${M} | ${(await cell('layers')).join(' | ')} | ${(await cell('head')).join(' | ')} |`);
  }
} finally {
  await mf.dispose();
}

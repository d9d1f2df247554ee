/**
 * What a stage call costs in local workerd when it does kernel work, not just the transport (rpc-micro.ts):
 * six layers of distilgpt2-sized linear_u7 at one row (42.5 M int8 weights, ≈ 1.3 ms), run
 * - `caller`: in the caller's own isolate (as one isolate runs its layers),
 * - `one call`: in a Durable Object of another script, all repetitions in one call,
 * - `a call each`: in that Durable Object, one call per repetition (as a stage is called once per step),
 * and the same for a pure-JS loop of about the same length, and for empty calls (fresh stub per call, as
 * the gateway makes them, and one stub reused). Mean ms per repetition over `reps`, per round; the rounds
 * alternate their order. workerd's clock moves only between I/O, so each request waits 1 ms before and
 * after its repetitions (subtracted).
 *
 *   npx tsx scripts/stages/call-micro.ts [--reps 60] [--rounds 3]
 *
 * `a call each` minus `one call` is what a call with compute costs beyond the compute and the transport.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Miniflare } from 'miniflare';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { values } = parseArgs({ options: { reps: { type: 'string', default: '60' }, rounds: { type: 'string', default: '3' } } });
const dir = path.join(ROOT, '.tmp', 'call-micro');
mkdirSync(dir, { recursive: true });
copyFileSync(path.join(ROOT, 'worker/kernels/gpt2-kernels.wasm'), path.join(dir, 'kernels.wasm'));

writeFileSync(
  path.join(dir, 'work.mjs'),
  `import mod from './kernels.wasm';
const { linear_u7, memory } = new WebAssembly.Instance(mod, {}).exports;
const L = 6, SHAPES = [[768, 2304], [768, 768], [768, 3072], [3072, 768]], M = 1, MAXN = 3072;
const base = 1 << 16, xq = base + L * SHAPES.reduce((a, [K, N]) => a + K * N, 0), xs = xq + 3072, zp = xs + 4;
const colsum = zp + 4, scale = colsum + 4 * MAXN, bias = scale + 4 * MAXN, out = bias + 4 * MAXN;
memory.grow(Math.ceil((out + 4 * MAXN - memory.buffer.byteLength) / 65536) + 1);
const i8 = new Int8Array(memory.buffer);
for (let i = base; i < xq; i++) i8[i] = ((Math.imul(i, 2654435761) >>> 24) - 128) | 0;
for (let i = 0; i < 3072; i++) i8[xq + i] = (i * 7) & 127;
new Float32Array(memory.buffer, xs, 1).fill(0.01);
export function kernels(reps) {
  for (let r = 0; r < reps; r++) {
    let w = base;
    for (let l = 0; l < L; l++) for (const [K, N] of SHAPES) { linear_u7(xq, M, K, w, N, colsum, scale, bias, xs, zp, out, 0); w += K * N; }
  }
  return reps;
}
export function js(reps) {
  let x = 0;
  for (let i = 0; i < reps * 170000; i++) x = (x * 1.0000001 + i) % 1e9;
  return x;
}
`,
);
writeFileSync(
  path.join(dir, 'caller.mjs'),
  `import { kernels, js } from './work.mjs';
export default {
  async fetch(req, env) {
    const q = new URL(req.url).searchParams;
    const [what, where, reps] = [q.get('what'), q.get('where'), Number(q.get('reps'))];
    const warm = env.S.get(env.S.idFromName('x'));
    const fresh = () => env.S.get(env.S.idFromName('x'));
    await scheduler.wait(1);
    const t0 = performance.now();
    if (what === 'empty') for (let i = 0; i < reps; i++) await (where === 'fresh' ? fresh() : warm).work('none', 0);
    else if (where === 'caller') (what === 'kernels' ? kernels : js)(reps);
    else if (where === 'one') await warm.work(what, reps);
    else for (let i = 0; i < reps; i++) await fresh().work(what, 1);
    await scheduler.wait(1);
    return new Response(String((performance.now() - t0 - 1) / reps));
  },
};
`,
);
writeFileSync(
  path.join(dir, 'callee.mjs'),
  `import { DurableObject } from 'cloudflare:workers';
import { kernels, js } from './work.mjs';
export class S extends DurableObject {
  work(what, reps) { return what === 'kernels' ? kernels(reps) : what === 'js' ? js(reps) : 0; }
}
export default { fetch: () => new Response('') };
`,
);

const worker = (name: string, main: string, durableObjects: Record<string, unknown>) => ({
  name,
  modules: true,
  scriptPath: path.join(dir, main),
  modulesRules: [{ type: 'CompiledWasm' as const, include: ['**/*.wasm'] }],
  compatibilityDate: '2026-04-20',
  durableObjects,
});
const mf = new Miniflare({
  workers: [worker('caller', 'caller.mjs', { S: { className: 'S', scriptName: 'callee' } }), worker('callee', 'callee.mjs', { S: 'S' })],
});
const CASES: [string, string, string][] = [
  ['kernels', 'caller', '6 layers in the caller'],
  ['kernels', 'one', '6 layers, all reps in one call'],
  ['kernels', 'each', '6 layers, a call each (fresh stub)'],
  ['js', 'caller', 'JS loop in the caller'],
  ['js', 'one', 'JS loop, all reps in one call'],
  ['js', 'each', 'JS loop, a call each (fresh stub)'],
  ['empty', 'fresh', 'empty call, fresh stub'],
  ['empty', 'warm', 'empty call, one stub'],
];
try {
  await mf.ready;
  const get = async (what: string, where: string, reps: number) =>
    Number(await (await mf.dispatchFetch(`http://caller/?what=${what}&where=${where}&reps=${reps}`)).text());
  for (const [what, where] of CASES) await get(what, where, 20); // warm-up: tier-up in both isolates
  const rounds = Number(values.rounds);
  const results = CASES.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...CASES.keys()].reverse() : [...CASES.keys()];
    for (const i of order) results[i]!.push(await get(CASES[i]![0], CASES[i]![1], Number(values.reps)));
  }
  console.log(`ms per repetition, ${rounds} rounds of ${values.reps}:`);
  for (const [i, [, , what]] of CASES.entries()) console.log(`  ${what.padEnd(38)} ${results[i]!.map((x) => x.toFixed(3)).join('  ')}`);
} finally {
  await mf.dispose();
}

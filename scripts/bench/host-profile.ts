/**
 * `tsx scripts/bench/host-profile.ts <model-dir> <id> [--past 512] [--steps 10] [--prefill 0] [--rows 1]`: where the
 * time of a host-attention model goes (HostCausalLM in Node, one thread), by wrapping its parts: the
 * n_layer + 1 segment runs (ORT sessions, or our kernels for int8 kernel segments — the baseline-SIMD
 * build on Node 20, which lacks relaxed SIMD: workerd runs the faster one), attention (our kernels + the JS that feeds them),
 * the LM head, the embedding. With --prefill N it times N-token prefills instead of decode steps; with
 * --rows R each decode step carries R rows (the prompt tiled R times), as a batch of R streams would.
 */
import { parseArgs } from 'node:util';
import type { CausalLM } from '../../worker/generation/types.ts';
import { kernelBuild } from '../../worker/kernels/node.ts';
import { loadModel } from '../../worker/model/load-model.ts';
import { nodeOrt } from '../../worker/model/ort-node.ts';
import { fsBlobSource } from '../lib/r2-fs-source.ts';
import { prefill } from './prefill.ts';

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    past: { type: 'string', default: '512' },
    steps: { type: 'string', default: '10' },
    prefill: { type: 'string', default: '0' },
    rows: { type: 'string', default: '1' },
  },
});
const [dir, id] = positionals;
if (!dir || !id) throw new Error('usage: host-profile.ts <model-dir> <id> [--past N] [--steps N] [--prefill N]');
const model = await loadModel(fsBlobSource(dir), id, { runtime: nodeOrt(), log: () => {} });
if (model.manifest.layout !== 'host-attention') throw new Error(`${id} is not a host-attention model`);

const spent = new Map<string, number>();
/** Replaces obj[name] by a timed wrapper (sync or async) that adds to `spent[label]`. */
function timeMethod(obj: object, name: string, label: string): void {
  const target = obj as Record<string, (...a: unknown[]) => unknown>;
  const f = target[name]!.bind(obj);
  const add = (t0: number) => spent.set(label, (spent.get(label) ?? 0) + performance.now() - t0);
  target[name] = (...a: unknown[]) => {
    const t0 = performance.now();
    const r = f(...a);
    if (r instanceof Promise) return r.finally(() => add(t0));
    add(t0);
    return r;
  };
}
// HostCausalLM's parts (worker/model/host-parts.ts): HostLayers (ORT segments, attention) and HostEnds (embedding, head).
const lm = model.lm as CausalLM & { layers: { segments: object[]; k: object }; ends: object };
for (const s of lm.layers.segments) timeMethod(s, 'run', 'segment runs (dense layers)');
timeMethod(lm.layers, 'attention', 'attention (kernels + JS glue)');
timeMethod(lm.layers.k, 'attend', '  of which attend kernel');
timeMethod(lm.ends, 'head', 'LM head (head kernel + copies)');
timeMethod(lm.ends, 'embed', 'embedding');

const ORDER = [
  'segment runs (dense layers)',
  'attention (kernels + JS glue)',
  '  of which attend kernel',
  'LM head (head kernel + copies)',
  'embedding',
];
const ids = (n: number) => Array.from({ length: n }, (_, i) => 100 + ((i * 7919) % 50000));
const n = Number(v.steps);
let wall = 0;
if (Number(v.prefill) > 0) {
  for (let r = 0; r <= n; r++) {
    if (r === 1) spent.clear(); // the first one warms up
    const t0 = performance.now();
    const out = await lm.forward({ inputIds: [ids(Number(v.prefill))], cache: null, logitsFor: 'last' });
    if (r > 0) wall += performance.now() - t0;
    lm.release(out.cache);
  }
} else {
  const R = Number(v.rows);
  let r = await prefill(lm, ids(Number(v.past)), n + 1);
  if (R > 1)
    r = {
      ...r,
      cache: lm.selectRows(
        r.cache,
        Array.from({ length: R }, () => 0),
      ),
    };
  const step = (s: number) => Array.from({ length: R }, (_, i) => [(s * 31 + i * 977) % 50000]);
  r = await lm.forward({ inputIds: step(0), cache: r.cache, logitsFor: 'last' }); // warm-up step
  spent.clear();
  for (let s = 0; s < n; s++) {
    const t0 = performance.now();
    r = await lm.forward({ inputIds: step(s + 1), cache: r.cache, logitsFor: 'last' });
    wall += performance.now() - t0;
  }
  lm.release(r.cache);
}
const what = Number(v.prefill) > 0 ? `${v.prefill}-token prefill` : `decode step of ${v.rows} row(s) at ${v.past} past`;
console.log(`${id}: ${what}, mean of ${n}: ${(wall / n).toFixed(1)} ms (kernels: ${kernelBuild ?? 'unused'} build)`);
for (const label of ORDER) console.log(`  ${label.padEnd(34)} ${((spent.get(label) ?? 0) / n).toFixed(2)} ms`);

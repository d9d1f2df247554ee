/**
 * `tsx scripts/bench/ab.ts --past 512 --rounds 15 <dir>:<id> <dir>:<id> ...`: interleaved A/B of decode
 * steps. Every model is loaded into one ORT-web (WASM, one thread) process and prefilled to `past`; each
 * round times one decode step of every model, in rotating order. On a shared machine whose load drifts
 * by 2–5× over minutes, only back-to-back steps compare fairly: the report is each model's median step
 * and the median of its per-round ratio to the first model.
 */
import { parseArgs } from 'node:util';
import { argmax } from '../../worker/generation/logits.ts';
import { nodeOrt } from '../../worker/model/ort-node.ts';
import { fsBlobSource } from '../lib/r2-fs-source.ts';
import { loadModel } from '../../worker/model/load-model.ts';
import { prefill } from './prefill.ts';
import { summarize } from './stats.ts';

async function main(): Promise<void> {
  const { values: v, positionals } = parseArgs({
    allowPositionals: true,
    options: { past: { type: 'string', default: '512' }, rounds: { type: 'string', default: '15' }, seq: { type: 'string', default: '1' } },
  });
  const rt = nodeOrt();
  const past = Number(v.past);
  const seq = Number(v.seq);
  const ids = Array.from({ length: past }, (_, i) => 100 + ((i * 7) % 1000));
  const models = [];
  for (const spec of positionals) {
    const [dir, id] = spec.split(':');
    const m = await loadModel(fsBlobSource(dir!), id!, { runtime: rt, log: () => {} });
    const pre = past > 0 ? await prefill(m.lm, ids, seq) : null; // chunked, with room for the step (as the Worker)
    models.push({ id: id!, m, pre, next: pre ? argmax(pre.logits) : 464, ms: [] as number[] });
  }
  const rounds = Number(v.rounds);
  for (let r = 0; r < rounds + 1; r++) {
    for (let j = 0; j < models.length; j++) {
      const x = models[(r + j) % models.length]!;
      const cache = x.pre ? x.m.lm.selectRows(x.pre.cache, [0]) : null;
      const input = Array.from({ length: seq }, () => x.next);
      const t0 = performance.now();
      const out = await x.m.lm.forward({ inputIds: [input], cache, logitsFor: 'last' });
      const dt = performance.now() - t0;
      x.m.lm.release(out.cache);
      if (r > 0) x.ms.push(dt); // round 0 warms up
    }
  }
  const base = models[0]!;
  console.log(
    `interleaved ${rounds} rounds, ${seq} token(s) after ${past} past, ORT-web WASM 1 thread (heap ${(rt.heapBytes() / 2 ** 20).toFixed(0)} MB)`,
  );
  for (const x of models) {
    const s = summarize(x.ms);
    const ratio = summarize(x.ms.map((ms, i) => base.ms[i]! / ms));
    console.log(
      `${x.id.padEnd(28)} ${s.median.toFixed(1).padStart(8)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})  speed-up vs ${base.id}: ${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`,
    );
  }
}

await main();

/**
 * `npm run bench:warmup -- --dir <converted-dir> --id <model-id> --checkpoint <hf-dir> [--seconds 90] [--every 3] [--prompt 128]`
 *
 * How prefill speed in workerd changes with the time since the model was loaded. V8 compiles WebAssembly
 * with its baseline compiler (Liftoff) first and tiers hot functions up to TurboFan in the background;
 * onnxruntime-web's .wasm is 14 MB, so if workerd tiers it up slowly, every figure taken soon after a load
 * (the first requests of a fresh isolate, and `npm run bench` runs) measures baseline code. This loads the
 * model once in the bench Worker (wrangler dev, local R2), then times a `--prompt`-token prefill every
 * `--every` seconds for `--seconds`, and prints the series with the machine's load. The same prefills in
 * Node (ORT-web WASM, same graph) are the reference. Not part of `npm test`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loudWarning, settle, watchConditions } from './conditions.ts';
import { corpusIds } from './corpus.ts';
import { bundleBenchWorker, startDevServer } from './dev-server.ts';
import { benchState, seedBench } from './seed.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    checkpoint: { type: 'string' },
    id: { type: 'string' },
    seconds: { type: 'string', default: '90' },
    every: { type: 'string', default: '3' },
    prompt: { type: 'string', default: '128' },
  },
});
if (!values.dir || !values.id || !values.checkpoint)
  throw new Error('usage: npm run bench:warmup -- --dir <converted-dir> --id <model-id> --checkpoint <hf-dir with tokenizer.json>');
const id = values.id;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await settle(console.log);
const conditions = watchConditions();
await seedBench(ROOT, [path.resolve(values.dir)], console.log);
const bundle = bundleBenchWorker(ROOT);
mkdirSync(path.join(ROOT, '.tmp', 'bench'), { recursive: true });
const server = await startDevServer(ROOT, benchState(ROOT).persistTo, path.join(ROOT, '.tmp', 'bench', 'warmup.log'), bundle);
// Text from the bench corpus, tokenized with the checkpoint's GPT-2 tokenizer.
const ids = corpusIds(ROOT, path.join(path.resolve(values.checkpoint), 'tokenizer.json'), 50256, Number(values.prompt)).slice(
  0,
  Number(values.prompt),
);
const series: { s: number; prefillMs: number; tokS: number; load1: number }[] = [];
try {
  const t0 = performance.now();
  await server.call('/bench/load', { id });
  const loadedAt = performance.now();
  console.log(`[warmup] ${id} loaded in ${(loadedAt - t0).toFixed(0)} ms`);
  for (let next = 0; next <= Number(values.seconds) * 1000; next += Number(values.every) * 1000) {
    const wait = loadedAt + next - performance.now();
    if (wait > 0) await sleep(wait);
    const a = performance.now();
    await server.call('/bench/prefill', { id, ids });
    const ms = performance.now() - a;
    await server.call('/bench/release', {});
    const point = { s: (a - loadedAt) / 1000, prefillMs: ms, tokS: (ids.length / ms) * 1000, load1: loadavg()[0]! };
    series.push(point);
    console.log(`[warmup] t+${point.s.toFixed(1)} s: ${ids.length}-token prefill ${ms.toFixed(0)} ms (${point.tokS.toFixed(0)} tok/s)`);
  }
} finally {
  await server.stop();
}
const cond = conditions.end();
if (!cond.quiet) console.error(loudWarning('bench:warmup', cond));
const out = path.join(ROOT, 'bench-results', `warmup-${id}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    { command: `npm run bench:warmup -- ${process.argv.slice(2).join(' ')}`, cpus: cpus().length, conditions: cond, series },
    null,
    2,
  ),
);
console.log(`[warmup] load ${cond.load1[0].toFixed(2)} → ${cond.load1[1].toFixed(2)}; raw: ${path.relative(ROOT, out)}`);

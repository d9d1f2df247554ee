/**
 * `tsx scripts/bench/profile.ts <model-dir> <id> [--past 512] [--runs 5]`: where one decode step of a
 * converted model goes, under onnxruntime-web (WASM, one thread) in Node, through the same OnnxCausalLM /
 * FastCausalLM the Worker uses. Prints
 *   wall      ms per forward() as the caller sees it
 *   in ORT    ORT's own `model_run` span (kernels + its executor)
 *   outside   the difference: feeding and fetching tensors between JS and the WASM heap, JS allocation
 * and ORT's per-op kernel time of the last step, summed by op type (its profiler, enableProfiling).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { argmax } from '../../worker/generation/logits.ts';
import type { OrtRuntime } from '../../worker/model/ort.ts';
import { hookInstantiate } from '../../worker/model/ort.ts';
import { fsBlobSource } from '../lib/r2-fs-source.ts';
import { loadAnyModel } from './fast-load.ts';
import { summarize } from './stats.ts';

interface TraceEvent {
  cat?: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; input_type_shape?: unknown };
}

/** ORT-web prints its profile to stdout as one JSON array, an event per line. */
export function parseProfile(lines: readonly string[]): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of lines.join('\n').split('\n')) {
    const t = line.trim().replace(/,$/, '');
    if (!t.startsWith('{')) continue;
    try {
      events.push(JSON.parse(t) as TraceEvent);
    } catch {
      // not an event line
    }
  }
  return events;
}

/** Kernel time per op type within the last model_run span; [op, ms, count], slowest first. */
export function lastRunByOp(events: readonly TraceEvent[]): { runMs: number; ops: [string, number, number][]; top: [string, number][] } {
  const runs = events.filter((e) => e.name === 'model_run');
  const last = runs[runs.length - 1];
  if (!last) return { runMs: NaN, ops: [], top: [] };
  const by = new Map<string, [number, number]>();
  const top: [string, number][] = [];
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < last.ts || e.ts > last.ts + last.dur) continue;
    top.push([`${e.name.replace(/_kernel_time$/, '')} ${JSON.stringify(e.args?.input_type_shape ?? []).slice(0, 80)}`, e.dur / 1000]);
    const op = e.args?.op_name ?? '?';
    const [ms, n] = by.get(op) ?? [0, 0];
    by.set(op, [ms + e.dur / 1000, n + 1]);
  }
  return {
    runMs: last.dur / 1000,
    ops: [...by].map(([op, [ms, n]]) => [op, ms, n] as [string, number, number]).sort((a, b) => b[1] - a[1]),
    top: top.sort((a, b) => b[1] - a[1]).slice(0, 5),
  };
}

async function main(): Promise<void> {
  const { values: v, positionals } = parseArgs({ allowPositionals: true, options: { past: { type: 'string', default: '512' }, runs: { type: 'string', default: '5' } } });
  const [dir, id] = positionals;
  if (!dir || !id) throw new Error('usage: tsx scripts/bench/profile.ts <model-dir> <id> [--past N] [--runs N]');
  const heapBytes = hookInstantiate();
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  // Profiling on for every session this process creates.
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (...a: unknown[]) => Promise<ort.InferenceSession>;
  const sessions: ort.InferenceSession[] = [];
  const patched = { ...ort, InferenceSession: { create: async (g: unknown, o: object) => { const s = await create(g, { ...o, enableProfiling: true }); sessions.push(s); return s; } } };
  const rt: OrtRuntime = { ort: patched as unknown as OrtRuntime['ort'], platform: 'node-wasm-profile', heapBytes };
  const m = await loadAnyModel(fsBlobSource(dir), id, rt, () => {});
  const past = Number(v.past);
  const ids = Array.from({ length: past }, (_, i) => 100 + (i % 1000));
  const pre = await m.lm.forward({ inputIds: [ids], cache: null, logitsFor: 'last' });
  const wall: number[] = [];
  let next = argmax(pre.logits);
  for (let r = 0; r < Number(v.runs); r++) {
    const cache = m.lm.selectRows(pre.cache, [0]);
    const t0 = performance.now();
    const s = await m.lm.forward({ inputIds: [[next]], cache, logitsFor: 'last' });
    wall.push(performance.now() - t0);
    next = argmax(s.logits);
    m.lm.release(s.cache);
  }
  // ORT's WASM build prints the profile to fd 1 from inside the glue, out of our reach: the parent
  // process (below) reads it from this child's stdout; our own numbers go out on one marked line.
  for (const s of sessions) s.endProfiling();
  process.stdout.write(`\n@@${JSON.stringify({ wall: summarize(wall).median, heap: heapBytes(), sessions: sessions.length })}\n`);
}

async function parent(): Promise<void> {
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', ...process.argv.slice(2)], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
  const mark = out.split('\n').find((l) => l.startsWith('@@'));
  if (!mark) throw new Error('the profiling child printed no result');
  const { wall: w, heap, sessions } = JSON.parse(mark.slice(2)) as { wall: number; heap: number; sessions: number };
  const { values: v, positionals } = parseArgs({ allowPositionals: true, options: { past: { type: 'string', default: '512' }, runs: { type: 'string', default: '5' } } });
  const [, id] = positionals;
  const past = Number(v.past);
  const { runMs, ops, top } = lastRunByOp(parseProfile(out.split('\n')));
  console.log(`${id}: decode step at ${past} past — wall ${w.toFixed(1)} ms, in ORT ${runMs.toFixed(1)} ms (last step, ${sessions} session(s): last stage only when staged), outside ${(w - runMs).toFixed(1)} ms; heap ${(heap / 2 ** 20).toFixed(0)} MB`);
  for (const [op, ms, n] of ops.slice(0, 12)) console.log(`  ${op.padEnd(26)} ${ms.toFixed(2).padStart(8)} ms  ×${n}`);
  console.log('  slowest nodes:');
  for (const [name, ms] of top) console.log(`    ${ms.toFixed(2).padStart(8)} ms  ${name}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--child')) {
    process.argv.splice(process.argv.indexOf('--child'), 1);
    await main();
  } else await parent();
}

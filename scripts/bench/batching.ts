/**
 * `npm run bench:batching [-- options]`: continuous batching (worker/generation/scheduler.ts) in workerd.
 * For each model, two `wrangler dev` servers of the Worker itself (worker/index.ts over local R2) differ
 * only in MAX_BATCH_ROWS: 16 (concurrent decode steps share one forward) and 1 (the baseline: one
 * sequence per step, requests take turns, as before batching). For 1, 2, 4, 8, 16 concurrent streams
 * (TGI /generate_stream, seeded sampling, the same requests on both servers, interleaved cell by cell)
 * it measures:
 *   aggregate tokens/s     all streams' tokens / wall time from the first request to the last event
 *   ms/token per stream    each stream's mean gap between its token events after the first, median over streams
 *   first token            median time to each stream's first token event
 *   CPU-ms per token       CPU time of the Worker's workerd process (/proc: utime + stime) / tokens
 *
 *   --config <id>     models (repeatable; default bundled-int8-s1, the shipped model-shards/, and distilgpt2-int8-s1; models.ts)
 *   --streams a,b,…   concurrent streams (1,2,4,8,16)
 *   --tokens N        new tokens per stream (48)
 *   --rounds N        repetitions of each cell; the median cell is reported (3)
 *   --kv-budget ID=MB the KV_BUDGET_MB of one model's servers (repeatable). Without it the Worker's own
 *                     budget applies: what 128 MB leaves after the model, planned conservatively; for
 *                     distilgpt2 that is 16.1 MiB, seven 64-position sequences, so 8 streams need it raised
 *   --md FILE         rewrite the batching section of FILE (BENCHMARKS.md) between its markers
 * Raw results: bench-results/batching-<timestamp>.json, with the machine's load before and after.
 * Run it alone: with 2 cores, anything else running halves what it measures (conditions.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loudWarning, settle, watchConditions, type Conditions } from './conditions.ts';
import { cpuMs, startDevServer, type DevServer } from './dev-server.ts';
import { parseConfig, servedModel } from './models.ts';
import { benchState, seedBench } from './seed.ts';
import { tgiStream } from './tgi-stream.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MARK = { start: '<!-- bench:batching:start -->', end: '<!-- bench:batching:end -->' };
const MODES = { batched: '16', baseline: '1' } as const;
type Mode = keyof typeof MODES;

const { values } = parseArgs({
  options: {
    config: { type: 'string', multiple: true },
    streams: { type: 'string', default: '1,2,4,8,16' },
    tokens: { type: 'string', default: '48' },
    rounds: { type: 'string', default: '3' },
    md: { type: 'string' },
    'kv-budget': { type: 'string', multiple: true },
  },
});
const configs = (values.config ?? ['bundled-int8-s1', 'distilgpt2-int8-s1']).map(parseConfig);
const streamCounts = values.streams!.split(',').map(Number);
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const kvBudget = new Map(
  (values['kv-budget'] ?? []).map((spec) => {
    const m = spec.match(/^([\w.-]+)=(\d+(?:\.\d+)?)$/);
    if (!m) throw new Error(`bad --kv-budget "${spec}": expected <model id>=<MB>`);
    return [m[1]!, m[2]!] as const;
  }),
);

interface Cell {
  mode: Mode;
  streams: number;
  tokens: number;
  wallMs: number;
  aggregateTokS: number;
  msPerToken: number;
  firstTokenMs: number;
  cpuMsPerToken: number | null;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function cell(server: DevServer, mode: Mode, n: number): Promise<Cell> {
  const pid = server.workerdPid();
  const cpu0 = pid ? cpuMs(pid) : null;
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: n }, (_, i) => tgiStream(server.url, i, TOKENS, t0)));
  const wallMs = Math.max(...all.map((t) => t.at(-1) ?? 0));
  const cpu1 = pid ? cpuMs(pid) : null;
  const tokens = all.reduce((s, t) => s + t.length, 0);
  const gaps = all.filter((t) => t.length > 1).map((t) => (t.at(-1)! - t[0]!) / (t.length - 1));
  return {
    mode,
    streams: n,
    tokens,
    wallMs,
    aggregateTokS: (tokens / wallMs) * 1000,
    msPerToken: median(gaps),
    firstTokenMs: median(all.map((t) => t[0] ?? wallMs)),
    cpuMsPerToken: cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / tokens : null,
  };
}

function table(id: string, cells: Cell[]): string {
  const get = (mode: Mode, n: number) => cells.find((c) => c.mode === mode && c.streams === n)!;
  const solo = get('batched', 1);
  const rows = streamCounts.map((n) => {
    const b = get('batched', n);
    const l = get('baseline', n);
    const cpu = (c: Cell) => (c.cpuMsPerToken === null ? '–' : c.cpuMsPerToken.toFixed(1));
    return (
      `| ${n} | **${b.aggregateTokS.toFixed(1)}** (${(b.aggregateTokS / solo.aggregateTokS).toFixed(2)}×) | ${l.aggregateTokS.toFixed(1)} | ` +
      `${(b.aggregateTokS / l.aggregateTokS).toFixed(2)}× | ${b.msPerToken.toFixed(1)} | ${l.msPerToken.toFixed(1)} | ` +
      `${b.firstTokenMs.toFixed(0)} | ${l.firstTokenMs.toFixed(0)} | ${cpu(b)} | ${cpu(l)} |`
    );
  });
  return [
    `**${id}** (${TOKENS} new tokens per stream, median of ${ROUNDS} rounds${kvBudget.has(id) ? `; KV_BUDGET_MB=${kvBudget.get(id)}` : ''})`,
    '',
    '| streams | tokens/s batched (vs 1 stream) | tokens/s one per step | batched / one per step | ms/token per stream, batched | one per step | first token ms, batched | one per step | CPU-ms/token, batched | one per step |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const log = (l: string) => console.log(l);
  await settle(log);
  const conditions = watchConditions();
  const models = configs.map((c) => servedModel(ROOT, c, log));
  await seedBench(
    ROOT,
    models.map((m) => m.dir),
    log,
  );
  const { persistTo } = benchState(ROOT);
  mkdirSync(path.join(ROOT, 'bench-results'), { recursive: true });
  mkdirSync(path.join(ROOT, '.tmp', 'bench'), { recursive: true });
  const results: { id: string; cells: Cell[] }[] = [];
  for (const { id } of models) {
    const servers = {} as Record<Mode, DevServer>;
    for (const mode of Object.keys(MODES) as Mode[]) {
      servers[mode] = await startDevServer(ROOT, persistTo, path.join(ROOT, '.tmp', 'bench', `batching-${mode}.log`), undefined, {
        entry: 'worker/index.ts',
        vars: {
          MODEL_IDS: id,
          DEFAULT_MODEL: id,
          MAX_BATCH_ROWS: MODES[mode],
          ...(kvBudget.has(id) ? { KV_BUDGET_MB: kvBudget.get(id)! } : {}),
        },
      });
    }
    try {
      // Load, then warm up (ORT's .wasm is tiered up by V8 only after it has run a while).
      for (const mode of Object.keys(MODES) as Mode[]) for (const n of [1, Math.max(...streamCounts)]) await cell(servers[mode], mode, n);
      const cells: Cell[] = [];
      for (const n of streamCounts) {
        const runs: Record<Mode, Cell[]> = { batched: [], baseline: [] };
        for (let r = 0; r < ROUNDS; r++) {
          const order: Mode[] = r % 2 ? ['baseline', 'batched'] : ['batched', 'baseline'];
          for (const mode of order) runs[mode].push(await cell(servers[mode], mode, n));
        }
        for (const mode of Object.keys(MODES) as Mode[]) {
          const byAgg = [...runs[mode]].sort((a, b) => a.aggregateTokS - b.aggregateTokS);
          const m = byAgg[Math.floor(byAgg.length / 2)]!;
          cells.push(m);
          log(
            `[batching] ${id} ${mode} ×${n}: ${m.aggregateTokS.toFixed(1)} tok/s, ${m.msPerToken.toFixed(1)} ms/token/stream, ` +
              `first ${m.firstTokenMs.toFixed(0)} ms, CPU ${m.cpuMsPerToken?.toFixed(1) ?? '–'} ms/token`,
          );
        }
      }
      results.push({ id, cells });
    } finally {
      for (const s of Object.values(servers)) await s.stop();
    }
  }
  const cond: Conditions = conditions.end();
  if (!cond.quiet) console.error(loudWarning('bench:batching', cond));
  const command = `npm run bench:batching -- ${process.argv.slice(2).join(' ')}`.trim();
  const out = path.join(ROOT, 'bench-results', `batching-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ command, cores: cpus().length, cpu: cpus()[0]?.model, conditions: cond, results }, null, 2));
  const md = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`${command}\` on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}; ` +
      `1-min load ${cond.load1[0].toFixed(2)} before, ${cond.load1[1].toFixed(2)} after` +
      `${cond.othersCores === null ? '' : `, other processes ${cond.othersCores.toFixed(2)} cores`}${cond.quiet ? '' : ' — **NOT A QUIET MACHINE**'}.`,
    '',
    ...results.flatMap((r) => [table(r.id, r.cells), '']),
  ].join('\n');
  console.log(`\n${md}\n[batching] raw results: ${path.relative(ROOT, out)}`);
  if (values.md) {
    const doc = existsSync(values.md) ? readFileSync(values.md, 'utf8') : '';
    const [a, b] = [doc.indexOf(MARK.start), doc.indexOf(MARK.end)];
    if (a < 0 || b < a) throw new Error(`${values.md} has no ${MARK.start} … ${MARK.end} section`);
    writeFileSync(values.md, `${doc.slice(0, a + MARK.start.length)}\n${md}\n${doc.slice(b)}`);
  }
}

await main();

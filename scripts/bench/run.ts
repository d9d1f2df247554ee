/**
 * `npm run bench [-- options]`: speed and memory of the Worker's model code inside workerd (wrangler dev,
 * local R2), next to the same graph in Node (ORT-web WASM, native onnxruntime-node) and transformers.js.
 *
 *   --config <id>     only these configurations (repeatable; e.g. gpt2-int8-s1, distilgpt2-q4-s1, gpt2-int8-kv16-s1)
 *   --engines a,b     workerd,node-wasm,node-native,tfjs-wasm,tfjs-native (default: all)
 *   --runs N          warm repetitions (5)     --cold-runs N   fresh processes for cold numbers (3)
 *   --steps N         decode steps per run (8) --pasts a,b,c   decode context lengths (32,256,512)
 *   --gen N           generated tokens for tokens/s (64)
 *   --no-stages       skip the per-stage isolates of multi-stage configs
 *   --serve-only      with --into: only (re)measure one request's memory in a fresh isolate for these configs
 *   --md FILE         rewrite the generated section of FILE (BENCHMARKS.md) between the bench markers
 *   --render FILE     only render FILE (a results JSON) as markdown (with --md: into that document)
 *   --into FILE       add to an earlier results JSON (configs measured again replace their old entry),
 *                     so a long session can be measured in parts and reported as one
 *   --help            this text
 * Raw results: bench-results/<timestamp>.json (gitignored). Nothing here is part of `npm test`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { QUIET_LOAD_BEFORE } from './conditions.ts';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loudWarning, settle, watchConditions } from './conditions.ts';
import { corpusIds } from './corpus.ts';
import { bundleBenchWorker, startDevServer } from './dev-server.ts';
import { configId, DEFAULT_CONFIGS, parseConfig, prepare, type Artifacts, type BenchConfig } from './models.ts';
import type { EngineJob, NodeEngine } from './node-engine.ts';
import { renderReport, replaceSection, type BenchResults, type ConfigResult, type ServeResult } from './report.ts';
import { benchState, seedBench } from './seed.ts';
import type { StageAloneResult } from './stage-alone.ts';
import { coldStart, runSuite, type ColdResult, type SuiteOptions, type SuiteResult } from './suite.ts';
import { workerdProbe } from './workerd-probe.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ENGINES = ['workerd', 'node-wasm', 'node-native', 'tfjs-wasm', 'tfjs-native'] as const;
const log = (l: string) => console.log(l);

function machine(command: string): BenchResults['machine'] {
  const lscpu = (() => {
    try {
      return execFileSync('lscpu', { encoding: 'utf8' });
    } catch {
      return '';
    }
  })();
  const version = (pkg: string) =>
    (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const workerd = (() => {
    try {
      return execFileSync(path.join(ROOT, 'node_modules/@cloudflare/workerd-linux-64/bin/workerd'), ['--version'], {
        encoding: 'utf8',
      }).trim();
    } catch {
      return 'unknown';
    }
  })();
  return {
    cpu: lscpu.match(/^Model name:\s+(.+)$/m)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    wrangler: version('wrangler'),
    workerd,
    onnxruntimeWeb: version('onnxruntime-web'),
    onnxruntimeNode: version('onnxruntime-node'),
    transformersJs: version('@huggingface/transformers'),
    date: new Date().toISOString(),
    command,
    loadAvg: loadavg()[0]!,
  };
}

async function runWorkerd(
  bundle: string,
  a: Artifacts,
  c: BenchConfig,
  suite: Omit<SuiteOptions, 'log'>,
  coldRuns: number,
  perStage: boolean,
): Promise<Partial<ConfigResult>> {
  const { persistTo } = benchState(ROOT);
  const logFile = path.join(ROOT, '.tmp', 'bench', 'wrangler-dev.log');
  const out: Partial<ConfigResult> = { coldRuns: [], startMs: [] };
  for (let r = 0, attempts = 0; r < Math.max(1, coldRuns); r++) {
    const dev = await startDevServer(ROOT, persistTo, logFile, bundle);
    try {
      out.startMs!.push(dev.startMs);
      const probe = workerdProbe(dev, a.id);
      if (r === 0) {
        const s = await runSuite(probe, { ...suite, log: (l) => log(`[workerd ${a.id}] ${l}`) });
        out.workerd = { engine: 'workerd', suite: s };
        out.coldRuns!.push(s.cold);
      } else {
        out.coldRuns!.push(await coldStart(probe, suite.corpus));
      }
    } catch (err) {
      // wrangler sometimes restarts the runtime under us ("Your worker restarted mid-request", or the
      // connection drops): the isolate's state is gone, so this fresh-process sample is redone.
      if (!/restarted mid-request|ECONNRESET|ECONNREFUSED|socket hang up/.test(String(err)) || ++attempts > Math.max(1, coldRuns))
        throw err;
      log(`[workerd ${a.id}] the runtime went away mid-run (${String(err).slice(0, 120)}); measuring this sample again in a fresh process`);
      out.startMs!.pop();
      r--;
    } finally {
      await dev.stop();
    }
  }
  if (perStage && c.stages > 1) {
    out.stages = [];
    for (let s = 0; s < c.stages; s++) {
      const dev = await startDevServer(ROOT, persistTo, logFile, bundle);
      try {
        const r = await dev.call<StageAloneResult>('/bench/stage', { id: a.id, stage: s, past: Math.max(...suite.pasts), seq: 128 });
        out.stages.push({ ...r, rssPeak: dev.rss().hwm });
        log(`[workerd ${a.id}] stage ${s} alone: heap ${(r.heapAfterDecode / 2 ** 20).toFixed(1)} MB`);
      } finally {
        await dev.stop();
      }
    }
  }
  return out;
}

/** One generate() request (longest past + 16 new tokens) in a fresh workerd: the memory a real request needs. */
async function measureServe(bundle: string, a: Artifacts, corpus: readonly number[], past: number): Promise<ServeResult> {
  const { persistTo } = benchState(ROOT);
  const dev = await startDevServer(ROOT, persistTo, path.join(ROOT, '.tmp', 'bench', 'wrangler-dev.log'), bundle);
  try {
    const r = await dev.call<Omit<ServeResult, 'rssPeak'>>('/bench/serve', { id: a.id, ids: corpus.slice(0, past), new: 16 });
    log(
      `[workerd ${a.id}] one request (${r.context} tokens) in a fresh isolate: heap ${(r.heap / 2 ** 20).toFixed(1)} MB + ${(r.kvJsBytes / 2 ** 20).toFixed(1)} MB KV in JS`,
    );
    return { heap: r.heap, kvJsBytes: r.kvJsBytes, context: r.context, rssPeak: dev.rss().hwm };
  } finally {
    await dev.stop();
  }
}

function runNodeEngine(job: EngineJob): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bench/node-engine.ts'), JSON.stringify(job)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${job.engine} on ${job.id} exited with ${code}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      config: { type: 'string', multiple: true },
      engines: { type: 'string', default: ENGINES.join(',') },
      runs: { type: 'string', default: '5' },
      'cold-runs': { type: 'string', default: '3' },
      steps: { type: 'string', default: '8' },
      pasts: { type: 'string', default: '32,256,512' },
      gen: { type: 'string', default: '64' },
      'no-stages': { type: 'boolean', default: false },
      'serve-only': { type: 'boolean', default: false },
      md: { type: 'string' },
      into: { type: 'string' },
      render: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    // The usage is this file's header comment.
    const header = readFileSync(import.meta.filename, 'utf8').match(/^\/\*\*\n([\s\S]*?)\n \*\//)?.[1] ?? '';
    console.log(header.replace(/^ \* ?/gm, ''));
    return;
  }
  if (v.render) {
    const md = renderReport(JSON.parse(readFileSync(path.resolve(ROOT, v.render), 'utf8')) as BenchResults);
    if (v.md) writeFileSync(path.resolve(ROOT, v.md), replaceSection(readFileSync(path.resolve(ROOT, v.md), 'utf8'), md));
    else console.log(md);
    return;
  }
  const configs = v.config?.map(parseConfig) ?? DEFAULT_CONFIGS;
  const engines = v.engines!.split(',').map((e) => e.trim()) as (typeof ENGINES)[number][];
  for (const e of engines) if (!ENGINES.includes(e)) throw new Error(`unknown engine ${e}; one of ${ENGINES.join(', ')}`);
  const coldRuns = Number(v['cold-runs']);
  const suiteBase = {
    runs: Number(v.runs),
    decodeSteps: Number(v.steps),
    pasts: v.pasts!.split(',').map(Number),
    genTokens: Number(v.gen),
  };
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const earlier =
    v.into && existsSync(path.resolve(ROOT, v.into))
      ? (JSON.parse(readFileSync(path.resolve(ROOT, v.into), 'utf8')) as BenchResults)
      : null;
  const results: BenchResults = earlier
    ? { ...earlier, machine: { ...earlier.machine, command: `${earlier.machine.command}; ${command}` } }
    : { machine: machine(command), suite: suiteBase, configs: [] };
  if (earlier && JSON.stringify(earlier.suite) !== JSON.stringify(suiteBase)) {
    throw new Error(`--into ${v.into} was measured with ${JSON.stringify(earlier.suite)}; pass the same --runs/--steps/--pasts/--gen`);
  }

  if (loadavg()[0]! > QUIET_LOAD_BEFORE) {
    log(
      `[bench] WARNING: 1-min load is ${loadavg()[0]!.toFixed(2)} before starting: stop other jobs (tests, builds, training) or these numbers are not results.`,
    );
  }
  const artifacts = configs.map((c) => prepare(ROOT, c, log));
  // Every model uses GPT-2's tokenizer (bundled and synthetic checkpoints alike): one corpus for all.
  const corpusFile = path.join(ROOT, '.tmp', 'bench', 'corpus.json');
  const corpus = corpusIds(ROOT, path.join(artifacts[0]!.checkpoint, 'tokenizer.json'), 50256, Math.max(...suiteBase.pasts) + 64);
  writeFileSync(corpusFile, JSON.stringify(corpus));
  let bundle = '';
  if (engines.includes('workerd')) {
    await seedBench(ROOT, [...new Set(artifacts.map((a) => a.modelDir))], log);
    bundle = bundleBenchWorker(ROOT);
  }

  const outDir = path.join(ROOT, 'bench-results');
  mkdirSync(outDir, { recursive: true });
  const outFile = v.into ? path.resolve(ROOT, v.into) : path.join(outDir, `${results.machine.date.replace(/[:.]/g, '-')}.json`);
  for (const [i, c] of configs.entries()) {
    const a = artifacts[i]!;
    const manifest = JSON.parse(readFileSync(path.join(a.modelDir, 'models', a.id, 'manifest.json'), 'utf8')) as ConfigResult['manifest'];
    const r: ConfigResult = { id: configId(c), config: c, manifest: { config: manifest.config, memory: manifest.memory }, node: [] };
    await settle(log); // after this script's own conversions and bundling
    const watch = watchConditions();
    log(`\n[bench] === ${r.id} ===`);
    if (v['serve-only']) {
      const old = earlier?.configs.find((x) => x.id === r.id);
      if (!old) throw new Error(`--serve-only: ${r.id} is not in --into ${v.into ?? '(none)'}`);
      const serve = await measureServe(bundle, a, corpus, Math.max(...suiteBase.pasts));
      results.configs = results.configs.map((x) => (x.id === r.id ? { ...x, serve } : x));
      writeFileSync(outFile, JSON.stringify(results, null, 2));
      continue;
    }
    if (engines.includes('workerd')) {
      Object.assign(r, await runWorkerd(bundle, a, c, { ...suiteBase, corpus }, coldRuns, !v['no-stages']));
      r.serve = await measureServe(bundle, a, corpus, Math.max(...suiteBase.pasts));
    }
    for (const engine of engines.filter((e): e is NodeEngine => e !== 'workerd')) {
      const tfjs = engine.startsWith('tfjs');
      if (c.stages > 1 || (tfjs && !a.hf)) continue; // engines other than workerd run one-stage graphs
      const job: EngineJob = {
        engine,
        dir: a.modelDir,
        id: a.id,
        hfRoot: a.hf?.root ?? '',
        hfName: a.hf?.name ?? '',
        dtype: a.hf?.dtype ?? '',
        corpusFile,
        coldOnly: false,
        suite: suiteBase,
      };
      try {
        const suite = (await runNodeEngine(job)) as SuiteResult;
        const cold = [suite.cold];
        for (let k = 1; k < coldRuns; k++) cold.push(((await runNodeEngine({ ...job, coldOnly: true })) as { cold: ColdResult }).cold);
        r.node.push({ engine, suite, cold });
      } catch (err) {
        log(`[bench] ${engine} on ${r.id} failed: ${(err as Error).message}`);
        r.node.push({ engine, error: (err as Error).message });
      }
    }
    r.conditions = watch.end();
    r.loadAvg = r.conditions.load1; // 1-min load average before / after this config
    if (!r.conditions.quiet) log(loudWarning(r.id, r.conditions));
    results.configs = [...results.configs.filter((x) => x.id !== r.id), r];
    writeFileSync(outFile, JSON.stringify(results, null, 2)); // after every config: a crash keeps what was measured
  }
  const md = renderReport(results);
  writeFileSync(outFile.replace(/\.json$/, '.md'), md);
  log(`\n${md}\n[bench] results: ${path.relative(ROOT, outFile)}`);
  if (v.md) {
    const file = path.resolve(ROOT, v.md);
    writeFileSync(file, replaceSection(readFileSync(file, 'utf8'), md));
    log(`[bench] updated ${path.relative(ROOT, file)}`);
  }
}

main().catch((err: unknown) => {
  console.error(`[bench] ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});

/**
 * A real `wrangler dev` for the reliability suite: 127.0.0.1 only, free ports, its own process group
 * (wrangler leaves `workerd` children behind when only the parent is killed), a private local R2
 * under .tmp/reliability-r2 seeded from model-shards/ (never a developer's .wrangler/state), and
 * `bucket` — the same local bucket through wrangler's platform proxy — so the suite can corrupt and
 * repair blobs while the server runs. `stop()` ends the whole group.
 */
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cpuMs, pidsNamed } from '../bench/dev-server.ts';
import { freePort } from '../lib/free-port.ts';
import { checkDir, listDir, pushFiles } from '../lib/r2-seed.ts';
import { withLocalBucket } from '../lib/r2-local.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const STATE_ROOT = path.join(ROOT, '.tmp', 'reliability-r2');

export interface DevServer {
  url: string;
  modelId: string;
  logFile: string;
  /** Whether the wrangler process group is still running. */
  alive(): boolean;
  /** CPU ms the group's workerd processes have used (utime + stime, 10 ms jiffies): the Worker's own CPU. */
  workerdCpuMs(): number;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function tail(file: string, n = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Seeds the private bucket from `dir` (model-shards/ by default); returns the served model id. */
export async function seedBucket(dir = path.join(ROOT, 'model-shards')): Promise<string> {
  const files = await listDir(dir);
  const ids = await checkDir(files);
  if (ids.length === 0) throw new Error(`no model in ${dir}`);
  mkdirSync(STATE_ROOT, { recursive: true });
  copyFileSync(path.join(ROOT, 'wrangler.toml'), path.join(STATE_ROOT, 'wrangler.toml'));
  await withLocalBucket(STATE_ROOT, (bucket) => pushFiles(bucket, files, () => {}));
  return ids.includes('edge-gpt2-brown') ? 'edge-gpt2-brown' : ids[0]!;
}

export async function startDevServer(opts: { modelId: string; vars?: Record<string, string>; logFile: string }): Promise<DevServer> {
  const [port, inspector] = [await freePort(), await freePort()];
  const vars = { DEFAULT_MODEL: opts.modelId, MODEL_IDS: opts.modelId, ...opts.vars };
  const args = [
    'dev',
    '--config',
    'wrangler.toml',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspector),
    '--persist-to',
    path.join(STATE_ROOT, '.wrangler', 'state'),
    '--log-level',
    'info',
    '--show-interactive-dev-session=false',
    ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
  ];
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const log = openSync(opts.logFile, 'w');
  const child = spawn(path.join(ROOT, 'node_modules/.bin/wrangler'), args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
  });
  closeSync(log);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const pgid = child.pid!;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pgid, s);
    } catch {
      // the group is already gone
    }
  };
  // If the suite dies without calling stop(), do not leave wrangler/workerd behind.
  const onExit = () => signal('SIGKILL');
  const onSignal = () => process.exit(130);
  process.once('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stop = async () => {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    signal('SIGTERM');
    await Promise.race([exit, sleep(5_000)]);
    signal('SIGKILL'); // workerd children that ignored SIGTERM
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`wrangler dev exited with ${exited} before it was ready:\n${tail(opts.logFile)}`);
    const up = await fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev was not ready after 120 s:\n${tail(opts.logFile)}`);
    }
    await sleep(500);
  }
  const workerdCpuMs = () => pidsNamed('workerd', pgid).reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0);
  return { url, modelId: opts.modelId, logFile: opts.logFile, alive: () => exited === undefined, workerdCpuMs, stop };
}

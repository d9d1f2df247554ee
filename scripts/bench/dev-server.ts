/**
 * `wrangler dev` on the bench Worker entry, in its own process group (wrangler leaves workerd behind
 * when only its parent is killed), with local R2 persisted under .tmp/bench-r2. Every
 * start is a fresh workerd process, hence a fresh isolate: that is how the driver gets cold runs and
 * per-configuration memory peaks. rss() reads workerd's VmRSS / VmHWM from /proc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { freePort } from '../lib/free-port.ts';
import path from 'node:path';

export const ENTRY = 'scripts/bench/worker.ts';
export const BUNDLE_DIR = '.tmp/bench/bundle';

/**
 * Bundles the bench Worker once (`wrangler deploy --dry-run`). The dev server then runs that bundle
 * with --no-bundle: `wrangler dev` on sources would rebuild and restart the isolate whenever anyone
 * edits worker/** mid-run (other work goes on in this tree), which would void cold/warm and memory numbers.
 */
export function bundleBenchWorker(root: string): string {
  const out = path.join(root, BUNDLE_DIR);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // The bench entry serves no API keys: the Worker's config without its Durable Object (KeyQuota) binding
  // and migrations, which would require the entry to export that class.
  const config = path.join(out, 'wrangler.toml');
  writeFileSync(config, withoutDurableObjects(readFileSync(path.join(root, 'wrangler.toml'), 'utf8')));
  execFileSync(
    path.join(root, 'node_modules/.bin/wrangler'),
    ['deploy', '--dry-run', '--outdir', out, path.join(root, ENTRY), '--config', config],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
    },
  );
  return path.join(out, 'worker.js');
}

/** A wrangler.toml without its `[[durable_objects.bindings]]` and `[[migrations]]` tables. */
function withoutDurableObjects(toml: string): string {
  let skip = false;
  return toml
    .split('\n')
    .filter((line) => {
      if (/^\[/.test(line)) skip = /^\[\[(durable_objects\.bindings|migrations)\]\]/.test(line);
      return !skip;
    })
    .join('\n');
}

export interface DevServer {
  url: string;
  /** wrangler's inspector proxy (GET /json lists the Worker's DevTools target: CPU profiles, heap usage). */
  inspectorPort: number;
  /** ms from spawn to the first /health answer (workerd start + compiling ORT's 14 MB .wasm). */
  startMs: number;
  workerdPid(): number | null;
  /** Resident and peak resident set of the workerd process, bytes (0 when unknown). */
  rss(): { rss: number; hwm: number };
  call<T>(route: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU ms a process has used (utime + stime from /proc/<pid>/stat; jiffies of 10 ms); null once it has ended. */
export function cpuMs(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return null;
  }
}

/** Processes whose command name is `name`, of process group `pgid` if given (from /proc/<pid>/stat: pid (comm) state ppid pgrp). */
export function pidsNamed(name: string, pgid?: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (comm === name && (pgid === undefined || pgrp === pgid)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/**
 * One HTTP request with no client-side timeout (node:http): Node's fetch gives up on headers after
 * 300 s, and a 512-token q4 prefill on a loaded 2-core box can take longer than that.
 */
function request(url: string, body?: string): Promise<{ ok: boolean; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: body === undefined ? 'GET' : 'POST', headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ ok: (res.statusCode ?? 500) < 400, status: res.statusCode ?? 500, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** esbuild's error marker in what this start appended to the log. */
function buildFailed(logFile: string, from: number): boolean {
  return readFileSync(logFile).subarray(from).toString('utf8').includes('[ERROR]');
}

function statusKb(pid: number, field: string): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** What else a dev server may run: another entry (the Worker itself) and `--var` overrides. */
export interface DevServerOptions {
  entry?: string;
  vars?: Record<string, string>;
}

/** `bundle`: the output of bundleBenchWorker (run with --no-bundle); absent: the sources (dev only). */
export async function startDevServer(
  root: string,
  persistTo: string,
  logFile: string,
  bundle?: string,
  opts: DevServerOptions = {},
): Promise<DevServer> {
  const [port, inspector] = [await freePort(), await freePort()];
  const args = [
    'dev',
    ...(bundle ? [path.relative(root, bundle), '--no-bundle'] : [opts.entry ?? ENTRY]),
    ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
    '--config',
    bundle ? path.relative(root, path.join(path.dirname(bundle), 'wrangler.toml')) : 'wrangler.toml',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspector),
    '--persist-to',
    persistTo,
    '--log-level',
    'warn',
    '--show-interactive-dev-session=false',
  ];
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const log = openSync(logFile, 'a');
  const t0 = performance.now();
  const child = spawn(path.join(root, 'node_modules/.bin/wrangler'), args, {
    cwd: root,
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
  });
  closeSync(log);
  let exited: number | null | undefined;
  const exit = new Promise<void>((r) => child.on('exit', (code) => ((exited = code), r())));
  const pgid = child.pid!;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pgid, s);
    } catch {
      // group already gone
    }
  };
  const stop = async () => {
    process.off('exit', onExit);
    if (exited !== undefined && pidsNamed('workerd', pgid).length === 0) return;
    signal('SIGTERM');
    await Promise.race([exit, sleep(5_000)]);
    signal('SIGKILL');
    for (let i = 0; i < 50 && pidsNamed('workerd', pgid).length > 0; i++) await sleep(100);
  };
  const onExit = () => signal('SIGKILL');
  process.once('exit', onExit);

  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 120_000; ; await sleep(200)) {
    if (exited !== undefined) throw new Error(`wrangler dev exited (${exited}) before it was ready; see ${logFile}`);
    if (buildFailed(logFile, logStart)) {
      await stop();
      throw new Error(`wrangler could not bundle ${ENTRY} (a worker/ module does not build right now); see ${logFile}`);
    }
    if (
      await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev not ready after 120 s; see ${logFile}`);
    }
  }
  const startMs = performance.now() - t0;
  // wrangler runs more than one workerd (its own proxy and the user Worker): the Worker's is the biggest.
  const workerdPid = () => {
    const pids = pidsNamed('workerd', pgid);
    return pids.length ? pids.reduce((a, b) => (statusKb(b, 'VmRSS') > statusKb(a, 'VmRSS') ? b : a)) : null;
  };
  return {
    url,
    inspectorPort: inspector,
    startMs,
    workerdPid,
    rss() {
      const pid = workerdPid();
      if (!pid) return { rss: 0, hwm: 0 };
      return { rss: statusKb(pid, 'VmRSS'), hwm: Math.max(...pidsNamed('workerd', pgid).map((p) => statusKb(p, 'VmHWM'))) };
    },
    async call<T>(route: string, body?: unknown): Promise<T> {
      const res = await request(`${url}${route}`, body === undefined ? undefined : JSON.stringify(body));
      const text = res.text;
      let data: T & { error?: string };
      try {
        data = JSON.parse(text) as T & { error?: string };
      } catch {
        throw new Error(`${route}: HTTP ${res.status}: ${text.slice(0, 300)}`);
      }
      if (!res.ok) throw new Error(`${route}: ${data.error ?? res.status}`);
      return data;
    },
    stop,
  };
}

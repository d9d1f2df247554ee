/**
 * `wrangler dev` for browser tests: on free ports, in its own process group (wrangler leaves
 * `workerd` children behind when only the parent is killed), output to a log file, ready
 * when GET /health answers. `stop()` ends the whole group.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { freePort } from '../../scripts/lib/free-port.ts';

export interface WranglerDev {
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface WranglerDevOptions {
  /** Worker entry (wrangler.toml's `main` when absent). */
  entry?: string;
  persistTo: string;
  logFile: string;
  vars?: Record<string, string>;
  readyTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, n = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startWranglerDev(opts: WranglerDevOptions): Promise<WranglerDev> {
  const [port, inspector] = [await freePort(), await freePort()];
  const args = [
    'dev',
    ...(opts.entry ? [opts.entry] : []),
    '--config',
    'wrangler.toml',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspector),
    '--persist-to',
    opts.persistTo,
    '--log-level',
    'info',
    '--show-interactive-dev-session=false',
    ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
  ];
  const log = openSync(opts.logFile, 'w');
  const child = spawn('node_modules/.bin/wrangler', args, {
    detached: true, // its own process group: stop() signals the group
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
  const stop = async () => {
    if (exited !== undefined) return;
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-pgid, s);
      } catch {
        // the group is already gone
      }
    };
    signal('SIGTERM');
    await Promise.race([exit, sleep(5_000)]);
    signal('SIGKILL'); // workerd children that ignored SIGTERM
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`wrangler dev exited with ${exited} before it was ready:\n${tail(opts.logFile)}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev was not ready after ${opts.readyTimeoutMs ?? 120_000} ms:\n${tail(opts.logFile)}`);
    }
    await sleep(500);
  }
  return { url, logFile: opts.logFile, stop };
}

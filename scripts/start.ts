/**
 * `npm start`: seed the local R2 bucket from model-shards/ (only when the tree changed since the last
 * seeding), then run `wrangler dev` on 127.0.0.1:8787 in its own process group. Ctrl-C / SIGTERM go
 * to the whole group (wrangler leaves workerd children behind otherwise); we exit with its code.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync } from 'node:fs';
import { checkDir, listDir, pushFiles, treeFingerprint } from './lib/r2-seed.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// MODEL_SHARDS=<dir> seeds from another R2-layout dir (e.g. a fresh `npm run convert` output).
const SHARDS = path.resolve(ROOT, process.env.MODEL_SHARDS ?? 'model-shards');
const STAMP = path.join(ROOT, '.wrangler', 'state', 'edge-gpt2-seed.json');
const HOST = '127.0.0.1';
const PORT = Number(process.env.PORT ?? 8787);

async function seed(): Promise<void> {
  const files = await listDir(SHARDS);
  if (files.length === 0) {
    console.log(`[start] ${path.relative(ROOT, SHARDS)}/ is empty: the server answers 503 until a model is uploaded`);
    console.log('[start]   (npm run convert -- <hf-dir> --out <dir> && npm run upload -- <dir> --local)');
    return;
  }
  const fingerprint = `${SHARDS}:${treeFingerprint(files)}`;
  const stamp: { fingerprint?: string } = await readFile(STAMP, 'utf8').then(
    (s) => JSON.parse(s),
    () => ({}),
  );
  if (stamp.fingerprint === fingerprint) {
    console.log(`[start] local R2 already seeded from ${path.relative(ROOT, SHARDS)}/ (${files.length} files)`);
    return;
  }
  const t0 = Date.now();
  const ids = await checkDir(files);
  console.log(`[start] seeding local R2 from ${path.relative(ROOT, SHARDS)}/: ${ids.join(', ') || 'no manifests'}, ${files.length} files`);
  // Imported only when seeding: loading wrangler's API is slow.
  const { withLocalBucket } = await import('./lib/r2-local.ts');
  const result = await withLocalBucket(ROOT, (bucket) => pushFiles(bucket, files));
  await mkdir(path.dirname(STAMP), { recursive: true });
  await writeFile(STAMP, JSON.stringify({ fingerprint, ids, seededAt: new Date().toISOString() }, null, 2));
  console.log(
    `[start] seeded in ${Date.now() - t0} ms: ${result.put} put (${(result.bytes / 2 ** 20).toFixed(1)} MB), ${result.skipped} already there`,
  );
}

async function announceWhenReady(child: ReturnType<typeof spawn>): Promise<void> {
  const url = `http://${HOST}:${PORT}`;
  for (let i = 0; i < 600 && child.exitCode === null; i++) {
    const up = await fetch(`${url}/health`).then(
      () => true,
      () => false,
    );
    if (up) {
      console.log(`\n[start] edge-gpt2 is up at ${url}  (the model loads on the first request)`);
      console.log(`[start] try: curl -N ${url}/generate_stream -H 'Content-Type: application/json' \\`);
      console.log(`[start]        -d '{"inputs":"The meaning of life is","parameters":{"max_new_tokens":40}}'\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Signals the whole process group; false when it is gone. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (
    await fetch(`http://${HOST}:${PORT}/`).then(
      () => true,
      () => false,
    )
  ) {
    throw new Error(`something already listens on ${HOST}:${PORT}; stop it or set PORT=<free port>`);
  }
  await seed();
  // wrangler's CLI itself (bin/wrangler.js is only a wrapper that re-spawns it with these flags).
  const cli = path.join(ROOT, 'node_modules', 'wrangler', 'wrangler-dist', 'cli.js');
  const args = [
    '--no-warnings',
    '--experimental-vm-modules',
    cli,
    'dev',
    '--ip',
    HOST,
    '--port',
    String(PORT),
    ...devArgs(process.argv.slice(2)),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', detached: true });
  const pgid = child.pid!;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    signalGroup(pgid, signal);
    // wrangler exits on SIGINT/SIGTERM but may leave workerd behind; make sure the group is gone.
    setTimeout(() => signalGroup(pgid, 'SIGKILL'), 5_000).unref();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // wrangler's API (used for seeding) leaves exit hooks that process.exit() on these signals, which
    // would orphan the dev server: ours must be the only handlers.
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
    process.on(signal, () => stop(signal === 'SIGHUP' ? 'SIGTERM' : signal));
  }
  child.on('exit', (code, signal) => {
    signalGroup(pgid, 'SIGKILL'); // nothing of the group outlives wrangler
    process.exit(code ?? (signal === 'SIGINT' ? 130 : signal ? 143 : 1));
  });
  // If whoever started us dies without passing a signal on (npm does not always), stop too.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && stop('SIGTERM'), 1_000).unref();
  void announceWhenReady(child);
}

/**
 * `--staged <id>`: the gateway and every stage Worker of staged/<id>/ (written by `npm run stages`) in one
 * `wrangler dev`, sharing the local R2 that seed() fills (the same persistence directory as plain `npm start`).
 * One lane (PIPELINE_LANES=1): one workerd runs all its isolates on one thread, so the stages never compute
 * at once and a second lane would only split the batch (4 streams: 1.3× one stream instead of 1.7×, BENCHMARKS.md).
 */
function devArgs(argv: string[]): string[] {
  const at = argv.indexOf('--staged');
  if (at < 0) return argv;
  const id = argv[at + 1];
  const dir = path.join(ROOT, 'staged', id ?? '');
  if (!id || !existsSync(path.join(dir, 'gateway.toml'))) {
    throw new Error(
      `--staged ${id ?? '<id>'}: no staged/${id ?? '<id>'}/gateway.toml; run \`npm run stages -- <converted-dir> --id <id>\` first`,
    );
  }
  const stages = readdirSync(dir)
    .filter((f) => /^stage\d+\.toml$/.test(f))
    .sort((a, b) => Number(a.slice(5, -5)) - Number(b.slice(5, -5)));
  const configs = ['gateway.toml', ...stages].flatMap((f) => ['-c', path.join(dir, f)]);
  console.log(`[start] staged ${id}: gateway + ${stages.length} stage Workers`);
  return [
    ...configs,
    '--persist-to',
    path.join(ROOT, '.wrangler', 'state'),
    '--var',
    'PIPELINE_LANES:1',
    ...argv.slice(0, at),
    ...argv.slice(at + 2),
  ];
}

main().catch((err: unknown) => {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

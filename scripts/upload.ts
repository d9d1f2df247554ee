/**
 * `npm run upload -- <model-dir> [--local|--remote] [--bucket name]`: pushes a directory in the R2
 * layout (a `npm run convert` output) into the model bucket — blobs first, each manifest last, so a
 * model id never points at a half-uploaded version. Every manifest is checked against its blobs
 * (size + SHA-256) before anything is written.
 *   --local   (default) the bucket `wrangler dev` / `npm start` read (.wrangler/state); blobs already
 *             there whose content hashes to their key are skipped; a corrupt one is put again.
 *   --remote  the real bucket through `wrangler r2 object put --remote` (needs `wrangler login`);
 *             wrangler has no "exists?" command, so every blob is sent.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { withLocalBucket } from './lib/r2-local.ts';
import { checkDir, listDir, pushFiles, type DirFile } from './lib/r2-seed.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_BUCKET = 'edge-gpt2-models'; // wrangler.toml [[r2_buckets]] bucket_name

function usage(message: string): never {
  console.error(`upload: ${message}\nusage: npm run upload -- <model-dir> [--local|--remote] [--bucket name]`);
  process.exit(2);
}

function putRemote(bucket: string, files: readonly DirFile[]): void {
  const wrangler = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
  for (const f of files) {
    console.log(`  put ${f.key} (${(f.bytes / 2 ** 20).toFixed(1)} MB)`);
    const r = spawnSync(process.execPath, [wrangler, 'r2', 'object', 'put', `${bucket}/${f.key}`, '--file', f.path, '--remote'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0)
      throw new Error(`wrangler r2 object put ${bucket}/${f.key} failed (exit ${r.status}); nothing after it was uploaded`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { local: { type: 'boolean' }, remote: { type: 'boolean' }, bucket: { type: 'string' } },
  });
  const dir = positionals[0];
  if (!dir || positionals.length > 1) usage('give exactly one model directory');
  if (values.local && values.remote) usage('--local and --remote exclude each other');
  const files = await listDir(path.resolve(dir));
  if (files.length === 0) usage(`${dir} is empty or missing`);
  const ids = await checkDir(files);
  if (ids.length === 0) usage(`${dir} has no models/<id>/manifest.json`);
  const t0 = Date.now();
  if (values.remote) {
    const bucket = values.bucket ?? DEFAULT_BUCKET;
    console.log(`upload: ${ids.join(', ')} → r2://${bucket} (remote), ${files.length} objects`);
    putRemote(bucket, files);
  } else {
    if (values.bucket) usage('--bucket applies to --remote; the local bucket is the one in wrangler.toml');
    console.log(`upload: ${ids.join(', ')} → local bucket (.wrangler/state), ${files.length} objects`);
    const r = await withLocalBucket(ROOT, (bucket) => pushFiles(bucket, files));
    console.log(`upload: ${r.put} put (${(r.bytes / 2 ** 20).toFixed(1)} MB), ${r.skipped} already there`);
  }
  console.log(`upload: done in ${Date.now() - t0} ms; serve with MODEL_IDS including ${ids.join(', ')}`);
}

main().catch((err: unknown) => {
  console.error(`upload: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

/**
 * `npm run check:deploy` (part of `npm test`): bundles the Worker exactly as `npm run deploy` would
 * (`wrangler deploy --dry-run --outdir <tmp>`: no account, no network), reports the upload's size
 * against the Workers size limits, and fails when it is over the enforced one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 2 ** 20;

/**
 * Workers size limits, as read on 2026-12-04 in Cloudflare's docs ("Limits", developers.cloudflare.com
 * /workers/platform/limits/) and changelog:
 * - enforced today: 64 MiB *uncompressed* on every plan (the compressed limits were removed on
 *   2026-09-04; cloudflare/workers-sdk#14001 moved wrangler's size report to it);
 * - before that: 3 MiB *gzip* on Workers Free, 10 MiB gzip on Workers Paid. wrangler 4.86 (pinned here:
 *   the newest that runs on Node 20) still colours its "Total Upload" line against the 3 MiB.
 * The check fails over the enforced limit, and also over the former paid one, so that the bundle stays
 * deployable by tools and accounts that still apply it.
 */
export const WORKER_SIZE_LIMITS = {
  uncompressed: { bytes: 64 * MiB, applies: 'every plan, since 2026-09-04' },
  formerGzipFree: { bytes: 3 * MiB, applies: 'Workers Free, until 2026-09-04' },
  formerGzipPaid: { bytes: 10 * MiB, applies: 'Workers Paid, until 2026-09-04' },
} as const;

export interface BundleSize {
  raw: number;
  gzip: number;
}

/** wrangler's own measure: "Total Upload: 14824.56 KiB / gzip: 3795.67 KiB" (modules concatenated). */
export function parseTotalUpload(output: string): BundleSize | null {
  const m = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(output);
  return m ? { raw: Math.round(Number(m[1]) * 1024), gzip: Math.round(Number(m[2]) * 1024) } : null;
}

/** One line per limit, and whether the bundle may be deployed. */
export function judge(size: BundleSize): { lines: string[]; ok: boolean } {
  const mib = (b: number) => `${(b / MiB).toFixed(2)} MiB`;
  const row = (what: string, value: number, limit: { bytes: number; applies: string }) =>
    `  ${what} ${mib(value)} of ${mib(limit.bytes)} (${((100 * value) / limit.bytes).toFixed(0)}%; ${limit.applies})` +
    (value > limit.bytes ? '  OVER' : '');
  const { uncompressed, formerGzipFree, formerGzipPaid } = WORKER_SIZE_LIMITS;
  return {
    lines: [row('raw ', size.raw, uncompressed), row('gzip', size.gzip, formerGzipFree), row('gzip', size.gzip, formerGzipPaid)],
    ok: size.raw <= uncompressed.bytes && size.gzip <= formerGzipPaid.bytes,
  };
}

function main(): void {
  const out = mkdtempSync(path.join(tmpdir(), 'edge-gpt2-deploy-check-'));
  try {
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', out],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' } },
    );
    const output = `${r.stdout}\n${r.stderr}`;
    if (r.status !== 0) {
      console.error(output);
      throw new Error(`wrangler deploy --dry-run failed (exit ${r.status})`);
    }
    const size = parseTotalUpload(output);
    if (!size) throw new Error(`no "Total Upload" line in wrangler's output:\n${output}`);
    const { lines, ok } = judge(size);
    console.log(`check:deploy: wrangler deploy --dry-run bundled the Worker\n${lines.join('\n')}`);
    if (!ok) {
      console.error('check:deploy: the Worker bundle is over a size limit (see above)');
      process.exitCode = 1;
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

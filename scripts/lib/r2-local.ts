/**
 * The local R2 bucket that `wrangler dev` reads: wrangler's getPlatformProxy with wrangler.toml's
 * binding and wrangler's default persistence (.wrangler/state/v3), so what we put here is what the
 * dev server serves.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getPlatformProxy } from 'wrangler';
import type { BucketWriter } from './r2-seed.ts';

export const BINDING = 'MODEL_BUCKET';

export function persistDir(root: string): string {
  return path.join(root, '.wrangler', 'state', 'v3');
}

export async function withLocalBucket<T>(root: string, fn: (bucket: BucketWriter) => Promise<T>): Promise<T> {
  // Only the bucket binding of wrangler.toml: the proxy has no Worker script, so a Durable Object
  // binding (KEY_QUOTA) would only make it warn that its class is not exported.
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-gpt2-r2-'));
  const bucketName = /bucket_name\s*=\s*"([^"]+)"/.exec(readFileSync(path.join(root, 'wrangler.toml'), 'utf8'))?.[1] ?? 'edge-gpt2-models';
  writeFileSync(
    path.join(dir, 'wrangler.toml'),
    `name = "edge-gpt2-r2"\ncompatibility_date = "2026-04-20"\n[[r2_buckets]]\nbinding = "${BINDING}"\nbucket_name = "${bucketName}"\n`,
  );
  const proxy = await getPlatformProxy<Record<string, BucketWriter>>({
    configPath: path.join(dir, 'wrangler.toml'),
    persist: { path: persistDir(root) },
    remoteBindings: false,
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const bucket = proxy.env[BINDING];
    if (!bucket) throw new Error(`wrangler.toml has no R2 binding ${BINDING}`);
    return await fn(bucket);
  } finally {
    await proxy.dispose();
  }
}

/**
 * The local R2 bucket that `wrangler dev` reads: wrangler's getPlatformProxy with wrangler.toml's
 * binding and wrangler's default persistence (.wrangler/state/v3), so what we put here is what the
 * dev server serves.
 */
import path from 'node:path';
import { getPlatformProxy } from 'wrangler';
import type { BucketWriter } from './r2-seed.ts';

export const BINDING = 'MODEL_BUCKET';

export function persistDir(root: string): string {
  return path.join(root, '.wrangler', 'state', 'v3');
}

export async function withLocalBucket<T>(root: string, fn: (bucket: BucketWriter) => Promise<T>): Promise<T> {
  const proxy = await getPlatformProxy<Record<string, BucketWriter>>({
    configPath: path.join(root, 'wrangler.toml'),
    persist: { path: persistDir(root) },
    remoteBindings: false,
  });
  try {
    const bucket = proxy.env[BINDING];
    if (!bucket) throw new Error(`wrangler.toml has no R2 binding ${BINDING}`);
    return await fn(bucket);
  } finally {
    await proxy.dispose();
  }
}

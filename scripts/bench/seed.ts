/**
 * The bench's own local R2 (.tmp/bench-r2, never a developer's .wrangler/state): model dirs in the R2
 * layout are pushed with the same code `npm start` uses; content-addressed blobs already there are
 * skipped, so re-running the bench does not re-copy gigabytes.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { withLocalBucket } from '../lib/r2-local.ts';
import { checkDir, listDir, pushFiles } from '../lib/r2-seed.ts';

export function benchState(root: string): { stateRoot: string; persistTo: string } {
  const stateRoot = path.join(root, '.tmp', 'bench-r2');
  return { stateRoot, persistTo: path.join(stateRoot, '.wrangler', 'state') };
}

/** Pushes every model dir; returns the model ids found. */
export async function seedBench(root: string, dirs: readonly string[], log: (l: string) => void): Promise<string[]> {
  const { stateRoot } = benchState(root);
  mkdirSync(stateRoot, { recursive: true });
  copyFileSync(path.join(root, 'wrangler.toml'), path.join(stateRoot, 'wrangler.toml'));
  const ids: string[] = [];
  await withLocalBucket(stateRoot, async (bucket) => {
    for (const dir of dirs) {
      const files = await listDir(dir);
      ids.push(...(await checkDir(files)));
      const r = await pushFiles(bucket, files, () => {});
      log(`[bench] seeded ${path.relative(root, dir)}: ${r.put} put (${(r.bytes / 2 ** 20).toFixed(1)} MB), ${r.skipped} already there`);
    }
  });
  return ids;
}

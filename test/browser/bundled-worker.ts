/**
 * The Worker as `npm start` runs it — `wrangler dev` (worker/index.ts) over local R2 seeded from
 * model-shards/ — for the browser tests. Seeding reuses scripts/lib (the code `npm start` and `npm run upload` use), into a
 * bucket of its own under .tmp/browser-r2 so tests never touch a developer's .wrangler/state.
 *
 * Started from the test file's beforeAll rather than a vitest globalSetup: only playground.test.ts
 * needs it, and a globalSetup would start wrangler (or fail without a model) for every browser file.
 * BROWSER_MODEL_DIR points at another directory in the R2 layout (e.g. a converter's test output).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { withLocalBucket } from '../../scripts/lib/r2-local.ts';
import { checkDir, listDir, pushFiles } from '../../scripts/lib/r2-seed.ts';
import { artifactPath } from './chromium.ts';
import { startWranglerDev, type WranglerDev } from './wrangler.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const STATE_ROOT = path.join(ROOT, '.tmp', 'browser-r2');

export interface BundledWorker extends WranglerDev {
  modelId: string;
}

export async function startBundledWorker(): Promise<BundledWorker> {
  const dir = path.resolve(ROOT, process.env.BROWSER_MODEL_DIR ?? 'model-shards');
  const files = await listDir(dir);
  const ids = await checkDir(files);
  if (ids.length === 0) {
    throw new Error(`no model in ${dir} (models/<id>/manifest.json + blobs/): the browser tests serve the bundled model`);
  }
  const modelId = ids.includes('edge-gpt2-brown') ? 'edge-gpt2-brown' : ids[0]!;
  // withLocalBucket persists under <root>/.wrangler/state/v3 and reads <root>/wrangler.toml.
  mkdirSync(STATE_ROOT, { recursive: true });
  copyFileSync(path.join(ROOT, 'wrangler.toml'), path.join(STATE_ROOT, 'wrangler.toml'));
  await withLocalBucket(STATE_ROOT, (bucket) => pushFiles(bucket, files, () => {}));
  const dev = await startWranglerDev({
    persistTo: path.join(STATE_ROOT, '.wrangler', 'state'),
    logFile: artifactPath('wrangler-dev.log'),
    vars: { DEFAULT_MODEL: modelId, MODEL_IDS: modelId },
  });
  // If vitest dies without running afterAll, do not leave wrangler/workerd behind.
  const onExit = () => void dev.stop();
  process.once('exit', onExit);
  return {
    ...dev,
    modelId,
    stop: async () => {
      process.off('exit', onExit);
      await dev.stop();
    },
  };
}

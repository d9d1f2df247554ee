/**
 * `--local <model-dir>`: the Worker's own Hono app (worker/app.ts: same routes, generation and
 * onnxruntime-web WASM model code) run in this Node process over a converted model directory laid out
 * like R2 (`blobs/<sha>`, `models/<id>/manifest.json`: what `npm run convert` writes and model-shards/
 * holds). Requests go through `app.request`, so the numbers are the API's, without wrangler/workerd.
 * The prompt limit is the widest the server's config allows: n_positions - 1 tokens.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { FetchLike } from './client.ts';

export class LocalServerError extends Error {
  override name = 'LocalServerError';
  readonly code = 'no_model';
}

export interface LocalServer {
  fetch: FetchLike;
  ids: string[];
}

function filesUnder(dir: string): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push([relative(dir, p).split('\\').join('/'), new Uint8Array(readFileSync(p))]);
    }
  };
  walk(dir);
  return out;
}

export async function localServer(dir: string, model?: string): Promise<LocalServer> {
  let ids: string[];
  try {
    ids = readdirSync(join(dir, 'models'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    ids = [];
  }
  if (ids.length === 0)
    throw new LocalServerError(
      `${dir} has no models/<id>/manifest.json: pass a directory written by \`npm run convert\` (or model-shards/)`,
    );
  const defaultId = model ?? ids[0]!;
  if (!ids.includes(defaultId)) throw new LocalServerError(`model "${defaultId}" is not in ${dir} (found ${ids.join(', ')})`);
  const manifest = JSON.parse(readFileSync(join(dir, 'models', defaultId, 'manifest.json'), 'utf8')) as {
    config?: { n_positions?: number };
  };
  const nPositions = manifest.config?.n_positions ?? 1024;

  // Loaded lazily so the CLI's usual path (a URL) does not pull Hono and onnxruntime-web in.
  const [{ createApp }, { parseConfig }, { createModelProvider, memoryBlobSource }, { nodeOrt }, { useExpSum }, { nodeExpSum }] =
    await Promise.all([
      import('../../worker/app.ts'),
      import('../../worker/config.ts'),
      import('../../worker/model/index.ts'),
      import('../../worker/model/ort-node.ts'),
      import('../../worker/generation/logits.ts'),
      import('../../worker/kernels/node.ts'),
    ]);
  useExpSum(nodeExpSum()); // sampling's and the prompt scores' softmax on the kernels, as the Worker does
  const models = createModelProvider({ source: memoryBlobSource(filesUnder(dir)), ids, defaultId, runtime: nodeOrt });
  const config = parseConfig({
    DEFAULT_MODEL: defaultId,
    MODEL_IDS: ids.join(','),
    MAX_NEW_TOKENS: '64',
    MAX_INPUT_TOKENS: String(nPositions - 1),
    MAX_TOTAL_TOKENS: String(nPositions),
    CPU_BUDGET_MS: String(3_600_000),
  });
  const app = createApp({ models, config });
  return { fetch: async (url, init) => app.request(url, init), ids };
}

/**
 * A staged model in real workerd: miniflare runs the gateway (worker/index.ts) and N stage Workers
 * (worker/stage/index.ts), each its own script (own isolate), wired as `npm run stages` wires them in
 * production: the gateway's STAGE_<k> Durable Object bindings point at each stage script's `Stage` class,
 * every script binds the same R2 bucket. Both entries are bundled once with `wrangler deploy --dry-run`
 * (what deploy uploads); the modules are listed explicitly (ORT's bundle holds a dynamic import()).
 * The gateway also serves `<model>-one`: the same blobs under a second manifest id, loaded in the gateway's
 * own isolate (not staged) — the single-isolate reference (seedReference).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Miniflare, type WorkerOptions } from 'miniflare';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BUNDLES = path.join(ROOT, '.tmp', 'stages-bundle');
const COMPAT_DATE = '2026-04-20';
const COMPAT_FLAGS = ['nodejs_compat', 'enable_request_signal'];
export const BUCKET = 'edge-gpt2-models';

/**
 * The stage's own wrangler config for bundling: the gateway's wrangler.toml declares the gateway's Durable
 * Objects (KeyQuota), which the stage entry neither exports nor needs; only the runtime settings carry over.
 */
function stageBundleConfig(): string {
  const file = path.join(BUNDLES, 'stage.wrangler.toml');
  mkdirSync(BUNDLES, { recursive: true });
  writeFileSync(
    file,
    [
      'name = "edge-gpt2-stage-bundle"',
      `compatibility_date = "${COMPAT_DATE}"`,
      `compatibility_flags = ${JSON.stringify(COMPAT_FLAGS)}`,
      '[[rules]]',
      'type = "CompiledWasm"',
      'globs = ["**/*.wasm"]',
      'fallthrough = true',
      '',
    ].join('\n'),
  );
  return file;
}

/** `wrangler deploy --dry-run` of an entry into .tmp/stages-bundle/<name>; resolves to that dir. */
async function bundle(name: string, entry: string, config = 'wrangler.toml'): Promise<string> {
  const out = path.join(BUNDLES, name);
  await promisify(execFile)(
    path.join(ROOT, 'node_modules/.bin/wrangler'),
    ['deploy', '--dry-run', '--outdir', out, path.resolve(ROOT, entry), '--config', config],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
    },
  );
  return out;
}

let bundled: Promise<{ gateway: string; stage: string }> | undefined;
export function bundles(): Promise<{ gateway: string; stage: string }> {
  bundled ??= Promise.all([bundle('gateway', 'worker/index.ts'), bundle('stage', 'worker/stage/index.ts', stageBundleConfig())]).then(
    ([gateway, stage]) => ({
      gateway,
      stage,
    }),
  );
  return bundled;
}

function modules(dir: string): Pick<WorkerOptions & { modulesRoot: string }, 'modules' | 'modulesRoot'> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js') || f.endsWith('.wasm'))
    .sort((a, c) => Number(c === 'index.js') - Number(a === 'index.js')); // the main module first
  return {
    modulesRoot: dir,
    modules: files.map((f) => ({
      type: f.endsWith('.wasm') ? ('CompiledWasm' as const) : ('ESModule' as const),
      path: path.join(dir, f),
      contents: readFileSync(path.join(dir, f)),
    })),
  };
}

export interface StagePlan {
  layers: [number, number] | null;
  ends: boolean;
  vars?: Record<string, string>;
}

export interface Topology {
  model: string;
  stages: StagePlan[];
  /** Extra vars for both gateways (limits). */
  gatewayVars?: Record<string, string>;
  inspectorPort?: number;
  /** Only these stages, no gateway (to measure single stages of a big model). */
  only?: number[];
}

const GATEWAY_VARS = {
  MAX_NEW_TOKENS: '256',
  MAX_INPUT_TOKENS: '768',
  MAX_TOTAL_TOKENS: '1024',
  CPU_BUDGET_MS: '25000',
  CORS_ORIGINS: '*',
};

export const stageName = (k: number) => `stage${k}`;

/** The id under which the gateway serves `model` in one isolate (the reference). */
export const referenceId = (model: string) => `${model}-one`;

/** Miniflare with workers `gateway` (staged `model`, single-isolate `<model>-one`) and stage0..N-1. */
export async function startTopology(t: Topology): Promise<Miniflare> {
  const b = await bundles();
  const gw = modules(b.gateway);
  const st = modules(b.stage);
  const common = { compatibilityDate: COMPAT_DATE, compatibilityFlags: COMPAT_FLAGS, r2Buckets: { MODEL_BUCKET: BUCKET } };
  const inspect = t.inspectorPort ? { unsafeInspectorProxy: true } : {};
  const workers: WorkerOptions[] = [
    {
      name: 'gateway',
      ...gw,
      ...common,
      ...inspect,
      bindings: {
        ...GATEWAY_VARS,
        DEFAULT_MODEL: t.model,
        MODEL_IDS: `${t.model},${referenceId(t.model)}`,
        STAGED_MODEL: t.model,
        ...t.gatewayVars,
      },
      durableObjects: Object.fromEntries(t.stages.map((_, k) => [`STAGE_${k}`, { className: 'Stage', scriptName: stageName(k) }])),
    },
    ...t.stages.map((s, k) => ({
      name: stageName(k),
      ...st,
      ...common,
      ...inspect,
      bindings: {
        STAGE_MODEL: t.model,
        STAGE_INDEX: String(k),
        STAGE_LAYERS: s.layers ? `${s.layers[0]}..${s.layers[1]}` : 'none',
        STAGE_ENDS: String(s.ends),
        ...s.vars,
      },
      durableObjects: { STAGE: 'Stage' },
    })),
  ];
  const picked = t.only ? workers.filter((w) => t.only!.some((k) => w.name === stageName(k))) : workers;
  const mf = new Miniflare({ workers: picked, ...(t.inspectorPort ? { inspectorPort: t.inspectorPort } : {}) });
  await mf.ready;
  return mf;
}

/** Puts an R2-layout dir (blobs/…, models/<id>/manifest.json) into the bucket, manifests last; and `model`'s manifest again as referenceId(model). */
export async function seedBucket(mf: Miniflare, dir: string, model?: string, worker = 'gateway'): Promise<void> {
  const bucket = await mf.getR2Bucket('MODEL_BUCKET', worker);
  const keys = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort((a, c) => Number(a.startsWith('models/')) - Number(c.startsWith('models/')));
  for (const key of keys) {
    const b = readFileSync(path.join(dir, key));
    await bucket.put(key, b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); // its own ArrayBuffer: the proxy clones whole buffers
  }
  if (model) {
    const m = JSON.parse(readFileSync(path.join(dir, 'models', model, 'manifest.json'), 'utf8')) as { id: string };
    await bucket.put(`models/${referenceId(model)}/manifest.json`, JSON.stringify({ ...m, id: referenceId(model) }));
  }
}

/**
 * A staged model in real workerd: miniflare runs the gateway (worker/index.ts) and N stage Workers
 * (worker/stage/index.ts), each its own script (own isolate), wired as `npm run stages` wires them in
 * production: the gateway's STAGE_<k> Durable Object bindings point at each stage script's `Stage` class,
 * each stage's NEXT_STAGE at the next one's (chained hops, unless the gateway's STAGE_HOPS says
 * "gateway"), every script binds the same R2 bucket. Both entries are bundled once with `wrangler deploy --dry-run`
 * (what deploy uploads); the modules are listed explicitly (ORT's bundle holds a dynamic import()).
 * The gateway also serves `<model>-one`: the same blobs under a second manifest id, loaded in the gateway's
 * own isolate (not staged) — the single-isolate reference (seedReference).
 *
 * Two layouts (`processes`):
 * - 'one' (startTopology): every Worker in one miniflare, one workerd process. workerd runs all of a
 *   process's isolates on one thread, so stages never compute at the same time: cheap hops, no overlap.
 * - 'per-stage' (startLocal): the gateway and each stage in a miniflare (a workerd process) of its own,
 *   joined through a dev registry (the way separate `wrangler dev` sessions find each other), so each stage
 *   computes on its own thread as Durable Objects do in production, and steps in flight overlap (the
 *   scheduler's lanes). Its hops cost more than in one process (a socket between processes): read
 *   BENCHMARKS.md before comparing the two.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Miniflare, type WorkerOptions } from 'miniflare';
import { freePort } from '../lib/free-port.ts';

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
  /** One workerd process for all, or one per Worker (see the header). Default 'one'. */
  processes?: 'one' | 'per-stage';
  /**
   * More gateways over the same stage objects (as several gateway isolates drive one pipeline in
   * production), each with its own vars on top of the gateway's: requests reach `name` at host
   * `<name>.local` (gatewayUrl), e.g. a second way through the stages measured beside the first.
   */
  moreGateways?: { name: string; vars: Record<string, string> }[];
}

/** The URL of `path` on gateway `name` ('gateway', or one of Topology.moreGateways). */
export const gatewayUrl = (name: string, path: string) => `http://${name === 'gateway' ? 'localhost' : `${name}.local`}${path}`;

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

/** The Workers of a topology: `gateway` (staged `model`, single-isolate `<model>-one`) and stage0..N-1. */
async function workerOptions(t: Topology): Promise<WorkerOptions[]> {
  const b = await bundles();
  const gw = modules(b.gateway);
  const st = modules(b.stage);
  const common = { compatibilityDate: COMPAT_DATE, compatibilityFlags: COMPAT_FLAGS, r2Buckets: { MODEL_BUCKET: BUCKET } };
  const inspect = t.inspectorPort ? { unsafeInspectorProxy: true } : {};
  const gateway = (name: string, vars: Record<string, string> = {}): WorkerOptions => ({
    name,
    ...gw,
    ...common,
    ...inspect,
    ...(name === 'gateway' ? {} : { routes: [`${name}.local/*`] }),
    bindings: {
      ...GATEWAY_VARS,
      DEFAULT_MODEL: t.model,
      MODEL_IDS: `${t.model},${referenceId(t.model)}`,
      STAGED_MODEL: t.model,
      ...t.gatewayVars,
      ...vars,
    },
    durableObjects: Object.fromEntries(t.stages.map((_, k) => [`STAGE_${k}`, { className: 'Stage', scriptName: stageName(k) }])),
  });
  const workers: WorkerOptions[] = [
    gateway('gateway'),
    ...(t.moreGateways ?? []).map((g) => gateway(g.name, g.vars)),
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
      durableObjects: {
        STAGE: 'Stage',
        // Chained hops (the gateway's STAGE_HOPS decides whether they are used): not for a stage run alone.
        ...(k + 1 < t.stages.length && (!t.only || t.only.includes(k + 1))
          ? { NEXT_STAGE: { className: 'Stage', scriptName: stageName(k + 1) } }
          : {}),
      },
    })),
  ];
  return t.only ? workers.filter((w) => t.only!.some((k) => w.name === stageName(k))) : workers;
}

/** Miniflare with workers `gateway` (staged `model`, single-isolate `<model>-one`) and stage0..N-1, in one process. */
export async function startTopology(t: Topology): Promise<Miniflare> {
  return (await startLocal({ ...t, processes: 'one' })).gateway;
}

/** A running topology in either layout: which miniflare runs which Worker, each with its inspector. */
export interface LocalTopology {
  /** The gateway's instance (requests go here); in 'one' the only instance. */
  gateway: Miniflare;
  instances: { mf: Miniflare; workers: string[]; inspectorPort?: number }[];
  /** The instance that runs `worker`. */
  of(worker: string): Miniflare;
  /** Every instance's bucket gets the dir (each process has its own local R2). */
  seed(dir: string, model?: string): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * A miniflare's start, bounded: one per-stage run hung here once with no workerd process left, so a start
 * that takes over two minutes fails with the worker's name instead of waiting forever.
 */
async function ready(mf: Miniflare, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`miniflare for ${what} did not start within 120 s`)), 120_000);
  });
  try {
    await Promise.race([mf.ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startLocal(t: Topology): Promise<LocalTopology> {
  const workers = await workerOptions(t);
  const instances: LocalTopology['instances'] = [];
  let registry: string | undefined;
  try {
    if (t.processes === 'per-stage') {
      registry = mkdtempSync(path.join(tmpdir(), 'edge-gpt2-registry-'));
      // Stages first: the gateways' bindings resolve through the registry once they are up.
      const isStage = (w: WorkerOptions) => w.name!.startsWith('stage');
      for (const w of [...workers.filter(isStage), ...workers.filter((x) => !isStage(x))]) {
        const inspectorPort = t.inspectorPort ? await freePort() : undefined;
        const mf = new Miniflare({ workers: [w], unsafeDevRegistryPath: registry, ...(inspectorPort ? { inspectorPort } : {}) });
        instances.push({ mf, workers: [w.name!], ...(inspectorPort ? { inspectorPort } : {}) });
        await ready(mf, w.name!);
      }
    } else {
      const mf = new Miniflare({ workers, ...(t.inspectorPort ? { inspectorPort: t.inspectorPort } : {}) });
      instances.push({ mf, workers: workers.map((w) => w.name!), ...(t.inspectorPort ? { inspectorPort: t.inspectorPort } : {}) });
      await ready(mf, 'the topology');
    }
  } catch (err) {
    await Promise.all(instances.map((i) => i.mf.dispose().catch(() => {})));
    throw err;
  }
  const of = (worker: string) => {
    const i = instances.find((x) => x.workers.includes(worker));
    if (!i) throw new Error(`no instance runs ${worker}`);
    return i.mf;
  };
  return {
    gateway: instances.find((i) => i.workers.includes('gateway'))?.mf ?? instances[0]!.mf,
    instances,
    of,
    seed: async (dir, model) => {
      for (const i of instances) await seedBucket(i.mf, dir, model, i.workers[0]);
    },
    dispose: async () => {
      await Promise.all(instances.map((i) => i.mf.dispose()));
      if (registry) rmSync(registry, { recursive: true, force: true });
    },
  };
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

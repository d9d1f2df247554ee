/**
 * The benchmarked configurations and their artifacts, built once and cached under .tmp/bench/:
 *   ckpt/<source>/          HF checkpoint: the bundled model's (checkpoints/edge-gpt2-brown) or a synthetic
 *                           gpt2 / distilgpt2-shaped one (`npm run synth`, random weights: speed and memory
 *                           do not depend on the values)
 *   models/<id>/            `npm run convert` output (R2 layout), id = <source>-<quant>[-kv16]-s<stages>[-graph]
 *                           (-graph: attention inside ORT; without it the converter's default layout, which is
 *                           host-attention for one-stage int8 with a float32 cache)
 *   hf/<id>/                transformers.js layout of a one-stage conversion (hf-layout.ts)
 * The converter and synth run as child processes through their npm scripts: the same code paths a user runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { manifestKey } from '../../worker/model/manifest.ts';
import { HF_DTYPE, writeHfLayout } from './hf-layout.ts';

export type Source = 'bundled' | 'distilgpt2' | 'gpt2';
export type Quant = 'int8' | 'q4';

export interface BenchConfig {
  source: Source;
  quant: Quant;
  stages: number;
  kv: 'float32' | 'float16';
  /** `graph`: attention inside ORT even where the converter would default to host attention. */
  attention?: 'graph';
}

export const DEFAULT_CONFIGS: readonly BenchConfig[] = [
  { source: 'bundled', quant: 'int8', stages: 1, kv: 'float32' },
  { source: 'bundled', quant: 'q4', stages: 1, kv: 'float32' },
  { source: 'distilgpt2', quant: 'int8', stages: 1, kv: 'float32' },
  { source: 'distilgpt2', quant: 'q4', stages: 1, kv: 'float32' },
  { source: 'distilgpt2', quant: 'int8', stages: 3, kv: 'float32' },
  { source: 'gpt2', quant: 'int8', stages: 1, kv: 'float32' },
  { source: 'gpt2', quant: 'int8', stages: 1, kv: 'float32', attention: 'graph' },
  { source: 'gpt2', quant: 'int8', stages: 4, kv: 'float32' },
  { source: 'gpt2', quant: 'q4', stages: 1, kv: 'float32' },
  { source: 'gpt2', quant: 'q4', stages: 4, kv: 'float32' },
];

/** What the converter will produce for this config (its default rule, convert.ts). */
export function layoutOf(c: BenchConfig): 'host-attention' | 'graph' {
  return c.attention === 'graph' || c.quant === 'q4' || c.stages > 1 || c.kv === 'float16' ? 'graph' : 'host-attention';
}

export function configId(c: BenchConfig): string {
  const graph = c.attention === 'graph' && c.quant !== 'q4' && c.stages === 1 && c.kv === 'float32' ? '-graph' : '';
  return `${c.source}-${c.quant}${c.kv === 'float16' ? '-kv16' : ''}-s${c.stages}${graph}`;
}

/** `gpt2-int8-s4` / `gpt2:int8:4` / `gpt2:int8:1:kv16` → a config (for --config on the command line). */
export function parseConfig(spec: string): BenchConfig {
  const m = spec.match(/^(bundled|distilgpt2|gpt2)[-:](int8|q4)(?:[-:](kv16))?[-:]s?(\d+)(?:[-:](kv16))?(?:[-:](graph))?$/);
  if (!m) throw new Error(`bad config "${spec}": expected <bundled|distilgpt2|gpt2>-<int8|q4>[-kv16]-s<stages>[-graph]`);
  return {
    source: m[1] as Source,
    quant: m[2] as Quant,
    stages: Number(m[4]),
    kv: m[3] || m[5] ? 'float16' : 'float32',
    ...(m[6] ? { attention: 'graph' as const } : {}),
  };
}

export interface Artifacts {
  id: string;
  checkpoint: string;
  modelDir: string;
  /** transformers.js: root dir, model name under it and dtype; null for multi-stage or fp16-KV configs. */
  hf: { root: string; name: string; dtype: string } | null;
}

function npm(root: string, script: string, args: string[], log: (l: string) => void): void {
  log(`[bench] npm run ${script} -- ${args.join(' ')}`);
  execFileSync('npm', ['run', '--silent', script, '--', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

export function checkpointDir(root: string, source: Source, log: (l: string) => void): string {
  if (source === 'bundled') return path.join(root, 'checkpoints', 'edge-gpt2-brown');
  const dir = path.join(root, '.tmp', 'bench', 'ckpt', source);
  if (!existsSync(path.join(dir, 'model.safetensors'))) npm(root, 'synth', ['--preset', source, '--out', dir], log);
  return dir;
}

export function prepare(root: string, c: BenchConfig, log: (l: string) => void): Artifacts {
  const id = configId(c);
  const checkpoint = checkpointDir(root, c.source, log);
  const modelDir = path.join(root, '.tmp', 'bench', 'models', id);
  const manifest = path.join(modelDir, manifestKey(id));
  // A retrained checkpoint (the bundled model) invalidates its conversions, and so does a cached conversion
  // in another layout (made before host attention became the converter's default).
  // So does one whose int8 dense layers run in another engine (ORT graphs before kernel segments became the default).
  type Cached = { layout?: string; stages: { segments?: { kernel?: unknown }[] }[] };
  const cached = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as Cached) : null;
  const layout = cached ? (cached.layout ?? 'graph') : null;
  const kernelSegments = cached?.stages[0]?.segments?.[0]?.kernel !== undefined;
  const stale =
    cached !== null &&
    (statSync(manifest).mtimeMs < statSync(path.join(checkpoint, 'model.safetensors')).mtimeMs ||
      layout !== layoutOf(c) ||
      kernelSegments !== (layoutOf(c) === 'host-attention' && c.quant === 'int8'));
  if (stale) {
    rmSync(modelDir, { recursive: true, force: true });
    rmSync(path.join(root, '.tmp', 'bench', 'hf', id), { recursive: true, force: true });
  }
  if (!existsSync(manifest)) {
    const attention = c.attention ? ['--attention', c.attention] : [];
    npm(
      root,
      'convert',
      [checkpoint, '--quant', c.quant, '--stages', String(c.stages), '--kv', c.kv, ...attention, '--out', modelDir, '--id', id],
      log,
    );
  }
  let hf: Artifacts['hf'] = null;
  if (layoutOf(c) === 'host-attention') {
    // transformers.js needs one graph with attention inside: the in-graph conversion of the same weights.
    hf = prepare(root, { ...c, attention: 'graph' }, log).hf;
  } else if (c.stages === 1 && c.kv === 'float32') {
    const hfRoot = path.join(root, '.tmp', 'bench', 'hf');
    if (!existsSync(path.join(hfRoot, id, 'config.json'))) {
      log(`[bench] transformers.js layout for ${id}`);
      writeHfLayout(modelDir, id, checkpoint, path.join(hfRoot, id));
    }
    hf = { root: hfRoot, name: id, dtype: HF_DTYPE[c.quant] };
  }
  return { id, checkpoint, modelDir, hf };
}

/**
 * Where a config's model is served from: the bundled int8 model as shipped (model-shards/, id edge-gpt2-brown),
 * or the conversion `prepare` makes (converting it when needed).
 */
export function servedModel(root: string, c: BenchConfig, log: (l: string) => void): { id: string; dir: string } {
  if (c.source === 'bundled' && c.quant === 'int8' && c.stages === 1)
    return { id: 'edge-gpt2-brown', dir: path.join(root, 'model-shards') };
  return { id: configId(c), dir: prepare(root, c, log).modelDir };
}

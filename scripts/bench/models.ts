/**
 * The benchmarked configurations and their artifacts, built once and cached under .tmp/bench/:
 *   ckpt/<source>/          HF checkpoint: the bundled model's (checkpoints/edge-gpt2-small) or a synthetic
 *                           gpt2 / distilgpt2-shaped one (`npm run synth`, random weights: speed and memory
 *                           do not depend on the values)
 *   models/<id>/            `npm run convert` output (R2 layout), id = <source>-<quant>[-kv16]-s<stages>
 *   hf/<id>/                transformers.js layout of a one-stage conversion (hf-layout.ts)
 * The converter and synth run as child processes through their npm scripts: the same code paths a user runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
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
}

export const DEFAULT_CONFIGS: readonly BenchConfig[] = [
  { source: 'bundled', quant: 'int8', stages: 1, kv: 'float32' },
  { source: 'bundled', quant: 'q4', stages: 1, kv: 'float32' },
  { source: 'distilgpt2', quant: 'int8', stages: 1, kv: 'float32' },
  { source: 'distilgpt2', quant: 'q4', stages: 1, kv: 'float32' },
  { source: 'distilgpt2', quant: 'int8', stages: 3, kv: 'float32' },
  { source: 'gpt2', quant: 'int8', stages: 1, kv: 'float32' },
  { source: 'gpt2', quant: 'int8', stages: 4, kv: 'float32' },
  { source: 'gpt2', quant: 'q4', stages: 1, kv: 'float32' },
  { source: 'gpt2', quant: 'q4', stages: 4, kv: 'float32' },
];

export function configId(c: BenchConfig): string {
  return `${c.source}-${c.quant}${c.kv === 'float16' ? '-kv16' : ''}-s${c.stages}`;
}

/** `gpt2-int8-s4` / `gpt2:int8:4` / `gpt2:int8:1:kv16` → a config (for --config on the command line). */
export function parseConfig(s: string): BenchConfig {
  const m = s.match(/^(bundled|distilgpt2|gpt2)[-:](int8|q4)(?:[-:](kv16))?[-:]s?(\d+)(?:[-:](kv16))?$/);
  if (!m) throw new Error(`bad config "${s}": expected <bundled|distilgpt2|gpt2>-<int8|q4>[-kv16]-s<stages>`);
  return { source: m[1] as Source, quant: m[2] as Quant, stages: Number(m[4]), kv: m[3] || m[5] ? 'float16' : 'float32' };
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
  if (source === 'bundled') return path.join(root, 'checkpoints', 'edge-gpt2-small');
  const dir = path.join(root, '.tmp', 'bench', 'ckpt', source);
  if (!existsSync(path.join(dir, 'model.safetensors'))) npm(root, 'synth', ['--preset', source, '--out', dir], log);
  return dir;
}

export function prepare(root: string, c: BenchConfig, log: (l: string) => void): Artifacts {
  const id = configId(c);
  const checkpoint = checkpointDir(root, c.source, log);
  const modelDir = path.join(root, '.tmp', 'bench', 'models', id);
  const manifest = path.join(modelDir, manifestKey(id));
  // A retrained checkpoint (the bundled model) invalidates its conversions.
  const stale = existsSync(manifest) && statSync(manifest).mtimeMs < statSync(path.join(checkpoint, 'model.safetensors')).mtimeMs;
  if (stale) {
    rmSync(modelDir, { recursive: true, force: true });
    rmSync(path.join(root, '.tmp', 'bench', 'hf', id), { recursive: true, force: true });
  }
  if (!existsSync(manifest)) {
    npm(root, 'convert', [checkpoint, '--quant', c.quant, '--stages', String(c.stages), '--kv', c.kv, '--out', modelDir, '--id', id], log);
  }
  let hf: Artifacts['hf'] = null;
  if (c.stages === 1 && c.kv === 'float32') {
    const hfRoot = path.join(root, '.tmp', 'bench', 'hf');
    if (!existsSync(path.join(hfRoot, id, 'config.json'))) {
      log(`[bench] transformers.js layout for ${id}`);
      writeHfLayout(modelDir, id, checkpoint, path.join(hfRoot, id));
    }
    hf = { root: hfRoot, name: id, dtype: HF_DTYPE[c.quant] };
  }
  return { id, checkpoint, modelDir, hf };
}

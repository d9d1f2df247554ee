/**
 * `npm run convert -- <hf-dir> [--quant int8|q4|fp32] [--stages N] [--out dir] [--id model-id]
 *   [--kv float32|float16] [--attention host|graph] [--shard-mb M] [--card card.json] [--block 32|128]
 *   [--activations row|tensor] [--dense kernels|ort]`
 * Exit codes: 0 ok, 1 conversion failed (message names the problem), 2 bad arguments.
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { convert } from './convert.ts';
import { ConvertError } from './errors.ts';
import type { ActivationScales, QuantMethod } from './weights.ts';

const USAGE =
  'usage: npm run convert -- <hf-dir> [--quant int8|q4|fp32] [--stages N] [--out dir] [--id model-id] [--kv float32|float16] [--attention host|graph] [--shard-mb M] [--card card.json] [--block 32|128] [--activations row|tensor] [--dense kernels|ort]';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        quant: { type: 'string', default: 'int8' },
        stages: { type: 'string', default: '1' },
        out: { type: 'string', default: 'out' },
        id: { type: 'string' },
        kv: { type: 'string', default: 'float32' },
        attention: { type: 'string' },
        'shard-mb': { type: 'string', default: '16' },
        card: { type: 'string' },
        block: { type: 'string', default: '32' },
        'head-chunks': { type: 'string', default: '16' },
        activations: { type: 'string' },
        dense: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`convert: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const bad = (msg: string): number => {
    console.error(`convert: ${msg}\n${USAGE}`);
    return 2;
  };
  if (positionals.length !== 1) return bad('expected exactly one checkpoint directory');
  if (!['int8', 'q4', 'fp32'].includes(v.quant!)) return bad(`--quant must be int8, q4 or fp32, got ${v.quant}`);
  if (v.kv !== 'float32' && v.kv !== 'float16') return bad(`--kv must be float32 or float16, got ${v.kv}`);
  if (v.attention !== undefined && v.attention !== 'host' && v.attention !== 'graph')
    return bad(`--attention must be host or graph, got ${v.attention}`);
  if (v.activations !== undefined && v.activations !== 'row' && v.activations !== 'tensor')
    return bad(`--activations must be row or tensor, got ${v.activations}`);
  if (v.dense !== undefined && v.dense !== 'kernels' && v.dense !== 'ort') return bad(`--dense must be kernels or ort, got ${v.dense}`);
  const num = (s: string | undefined, name: string): number | null => {
    const n = Number(s);
    return Number.isInteger(n) && n > 0 ? n : (console.error(`convert: ${name} must be a positive integer, got ${s}`), null);
  };
  const stages = num(v.stages, '--stages');
  const shardMb = num(v['shard-mb'], '--shard-mb');
  const block = num(v.block, '--block');
  const headChunks = num(v['head-chunks'], '--head-chunks');
  if (stages === null || shardMb === null || block === null || headChunks === null) return 2;
  let card: Record<string, unknown> | undefined;
  if (v.card) {
    try {
      card = JSON.parse(readFileSync(v.card, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      return bad(`--card ${v.card}: ${(e as Error).message}`);
    }
  }
  const input = positionals[0]!;
  const id = v.id ?? basename(resolve(input));
  try {
    const r = await convert({
      input,
      out: v.out!,
      id,
      quant: v.quant as QuantMethod,
      stages,
      kv: v.kv,
      ...(v.attention ? { attention: v.attention as 'host' | 'graph' } : {}),
      ...(v.activations ? { activations: v.activations as ActivationScales } : {}),
      ...(v.dense ? { dense: v.dense as 'kernels' | 'ort' } : {}),
      shardMb,
      blockSize: block,
      headChunks,
      ...(card ? { card } : {}),
      log: (l) => console.log(l),
    });
    const m = r.manifest;
    console.log(
      `done: ${m.id} (${m.quantization.method}, ${m.stages.length} stage(s)), weights ${(m.memory.weights_bytes / 1e6).toFixed(1)} MB, heap estimate ${(m.memory.wasm_heap_estimate_bytes / 1e6).toFixed(1)} MB`,
    );
    return 0;
  } catch (e) {
    if (e instanceof ConvertError) {
      console.error(`convert: error [${e.code}]: ${e.message}`);
      return 1;
    }
    console.error(`convert: unexpected error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

main().then((code) => process.exit(code));

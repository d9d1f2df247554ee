/**
 * `npm run stages -- <r2-dir> | --preset <gpt2…gpt2-xl> [--id model-id] [--resident R] [--context C] [--stages N] [--out dir]
 *   [--ends gateway|stage] [--name edge-gpt2] [--bucket edge-gpt2-models] [--also edge-gpt2-brown]`
 *
 * Plans a staged deployment of a converted host-attention model (<r2-dir>/models/<id>/manifest.json, as
 * `npm run convert` writes it) so that every isolate stays under 128 MB with R resident sequences of C
 * tokens, prints the plan with each stage's memory (and the gateway's when it holds the embedding and head:
 * --ends, default the gateway where they fit; scripts/stages/plan.ts), and writes the wrangler configs to <out>
 * (default staged/<id>/): gateway.toml + stage<k>.toml. Then:
 *   npm start -- --staged <id>     local: wrangler dev with every config, local R2 seeded from MODEL_SHARDS
 *   npm run deploy -- --staged <id>   stages first, then the gateway
 * Exit codes: 0 ok, 1 the model cannot be planned (message says why), 2 bad arguments.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseManifest } from '../../worker/model/manifest.ts';
import { PRESETS } from '../lib/gpt2-names.ts';
import { stageConfigs } from './configs.ts';
import { estimatedManifest } from './shapes.ts';
import { GATEWAY_JS_BYTES, gatewayEndsBytes, mb, PlanError, planStages } from './plan.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const USAGE =
  'usage: npm run stages -- <r2-dir> | --preset gpt2|gpt2-medium|gpt2-large|gpt2-xl [--id model-id] [--resident R] [--context C] [--stages N] [--out dir] [--ends gateway|stage] [--name edge-gpt2] [--bucket edge-gpt2-models] [--also id,…]';

function main(): number {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        id: { type: 'string' },
        resident: { type: 'string', default: '2' },
        context: { type: 'string' },
        stages: { type: 'string' },
        out: { type: 'string' },
        ends: { type: 'string' },
        name: { type: 'string', default: 'edge-gpt2' },
        bucket: { type: 'string', default: 'edge-gpt2-models' },
        also: { type: 'string' },
        preset: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`stages: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) return (console.log(USAGE), 0);
  if (positionals.length !== (v.preset ? 0 : 1))
    return (console.error(`stages: expected one converted model dir (or --preset)\n${USAGE}`), 2);
  const dir = path.resolve(positionals[0] ?? '.');
  let id = v.id ?? v.preset;
  if (v.preset && !PRESETS[v.preset])
    return (console.error(`stages: unknown preset ${v.preset}; one of ${Object.keys(PRESETS).join(', ')}`), 2);
  if (!id) {
    try {
      const ids = readdirIds(dir);
      if (ids.length !== 1)
        return (console.error(`stages: ${dir}/models holds ${ids.length} models (${ids.join(', ')}); pick one with --id`), 2);
      id = ids[0]!;
    } catch {
      return (console.error(`stages: ${dir} has no models/<id>/manifest.json (give the --out dir of npm run convert)`), 2);
    }
  }
  const int = (s: string | undefined, name: string): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new PlanError(`${name} must be a positive integer, got ${s}`);
    return n;
  };
  try {
    // --preset: the blob sizes an int8 conversion of that shape would have (shapes.ts), for planning ahead.
    const manifest = v.preset
      ? estimatedManifest(PRESETS[v.preset]!, id)
      : parseManifest(JSON.parse(readFileSync(path.join(dir, 'models', id, 'manifest.json'), 'utf8')));
    const resident = int(v.resident, '--resident')!;
    const context = int(v.context, '--context') ?? manifest.config.n_positions;
    const stages = int(v.stages, '--stages');
    if (v.ends !== undefined && v.ends !== 'gateway' && v.ends !== 'stage')
      return (console.error(`stages: --ends is gateway or stage, got ${v.ends}\n${USAGE}`), 2);
    const plan = planStages(manifest, { resident, context, ...(stages ? { stages } : {}), ...(v.ends ? { ends: v.ends } : {}) });
    const out = path.resolve(v.out ?? path.join(ROOT, 'staged', id));
    mkdirSync(out, { recursive: true });
    const files = stageConfigs(
      {
        root: ROOT,
        outDir: out,
        id,
        name: v.name!,
        bucket: v.bucket!,
        ...(v.also
          ? {
              alsoServe: v.also
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean),
            }
          : {}),
      },
      plan,
    );
    for (const [name, text] of files) writeFileSync(path.join(out, name), text);
    const c = manifest.config;
    console.log(
      `${id}: ${c.n_layer} layers, width ${c.n_embd}, ${manifest.quantization.method}; ${plan.length} stages for ${resident} resident sequence(s) × ${context} tokens per stage isolate (limit 128 MiB):`,
    );
    if (!plan.some((s) => s.ends))
      console.log(
        `gateway: the embedding and head, ${mb(gatewayEndsBytes(manifest))} planned (weights, one head call, ${mb(GATEWAY_JS_BYTES)} of JS)`,
      );
    console.log('stage  layers     ends  weights    runtime+act+js  KV budget   planned');
    plan.forEach((s, k) => {
      const b = s.budget;
      const layers = s.layers ? `${s.layers[0]}..${s.layers[1] - 1}` : '-';
      console.log(
        `${String(k).padEnd(6)} ${layers.padEnd(10)} ${(s.ends ? 'yes' : '').padEnd(5)} ${mb(b.weightsBytes).padEnd(10)} ${mb(b.runtimeBytes + b.activationBytes + b.jsBytes).padEnd(15)} ${mb(b.kvBudgetBytes).padEnd(11)} ${mb(s.plannedBytes)}`,
      );
    });
    console.log(`wrote ${[...files.keys()].join(', ')} to ${path.relative(process.cwd(), out) || '.'}`);
    console.log(`next: npm start -- --staged ${id}   (local)   |   npm run deploy -- --staged ${id}`);
    return 0;
  } catch (e) {
    if (e instanceof PlanError || (e as Error).name === 'ManifestError') return (console.error(`stages: ${(e as Error).message}`), 1);
    throw e;
  }
}

/** Model ids with a manifest under <dir>/models. */
function readdirIds(dir: string): string[] {
  return readdirSync(path.join(dir, 'models')).filter((name) => existsSync(path.join(dir, 'models', name, 'manifest.json')));
}

process.exit(main());

/**
 * `npx tsx scripts/convert/model-shards.ts [--card card.json] [--checkpoint dir] [--quant int8] [--id model-id]
 *   [--activations row|tensor] [--out dir]`
 * The checkpoint defaults to checkpoints/edge-gpt2-brown and the card to scripts/convert/<checkpoint name>.card.json
 * (training facts from the training run, measured numbers from `npm run eval -- ... --card`).
 *
 * Rebuilds model-shards/ (the bundled default model, R2 layout) from our trained checkpoint: the
 * checkpoint is committed without tokenizer files, so they are regenerated into a temp dir beside a link
 * to the weights; model-shards/ is cleared first so no stale blob of an older model lingers.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeGpt2Tokenizer } from '../tokenizer/index.ts';
import { convert } from './convert.ts';
import type { ActivationScales, QuantMethod } from './weights.ts';

const { values } = parseArgs({
  options: {
    checkpoint: { type: 'string', default: 'checkpoints/edge-gpt2-brown' },
    id: { type: 'string', default: 'edge-gpt2-brown' },
    card: { type: 'string' },
    quant: { type: 'string', default: 'int8' },
    out: { type: 'string', default: 'model-shards' },
    activations: { type: 'string' },
  },
});
if (values.activations !== undefined && values.activations !== 'row' && values.activations !== 'tensor') {
  console.error(`model-shards: --activations must be row or tensor, got ${values.activations}`);
  process.exit(2);
}
const ck = resolve(values.checkpoint!);
const tmp = mkdtempSync(join(tmpdir(), 'edge-gpt2-shards-'));
try {
  copyFileSync(join(ck, 'config.json'), join(tmp, 'config.json'));
  symlinkSync(join(ck, 'model.safetensors'), join(tmp, 'model.safetensors'));
  writeGpt2Tokenizer(tmp);
  const name = basename(ck);
  const defaultCard = resolve(import.meta.dirname, `${name}.card.json`);
  const cardPath = values.card ?? (existsSync(defaultCard) ? defaultCard : undefined);
  const card = cardPath ? (JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>) : undefined;
  const out = resolve(values.out!);
  rmSync(join(out, 'blobs'), { recursive: true, force: true });
  rmSync(join(out, 'models'), { recursive: true, force: true });
  const { manifest } = await convert({
    input: tmp,
    out,
    id: values.id!,
    quant: values.quant as QuantMethod,
    ...(values.activations ? { activations: values.activations as ActivationScales } : {}),
    sourceName: name,
    ...(card ? { card } : {}),
    log: (l) => console.log(l),
  });
  const files = readdirSync(join(out, 'blobs'));
  const bytes = files.reduce((n, f) => n + statSync(join(out, 'blobs', f)).size, 0);
  console.log(
    `model-shards: ${manifest.id} ${manifest.quantization.method}, ${files.length} blobs, ${(bytes / 1e6).toFixed(2)} MB${cardPath ? `, card from ${cardPath}` : ', no card'}`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

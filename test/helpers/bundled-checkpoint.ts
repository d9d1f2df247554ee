/**
 * The bundled model's checkpoint (committed without tokenizer files) and its torch reference fixture,
 * plus conversions of it cached under .tmp/test-models/: a 19 M-parameter model converts in seconds but
 * its fp32 form is 78 MB, so each conversion is made once and reused until the checkpoint or the
 * converter's code changes (the cache key hashes both, and the options).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConvertOptions } from '../../scripts/convert/index.ts';
import { writeGpt2Tokenizer } from '../../scripts/tokenizer/index.ts';
import { convertQuiet } from './synth-fixtures.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Name of the checkpoint dir under checkpoints/ and of its fixture under test/fixtures/reference/. */
export const CHECKPOINT_NAME = 'edge-gpt2-brown';
const CHECKPOINT_DIR = path.join(ROOT, 'checkpoints', CHECKPOINT_NAME);
export const REFERENCE_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'reference', `${CHECKPOINT_NAME}.json`);
const CACHE = path.join(ROOT, '.tmp', 'test-models');

/** Hash of everything a conversion's bytes depend on: the weights, the config, the converter's sources. */
function inputsKey(opts: object): string {
  const h = createHash('sha256').update(JSON.stringify(opts));
  for (const f of ['config.json', 'model.safetensors']) h.update(readFileSync(path.join(CHECKPOINT_DIR, f)));
  for (const dir of ['scripts/convert', 'scripts/lib', 'scripts/tokenizer']) {
    for (const f of readdirSync(path.join(ROOT, dir))
      .filter((n) => n.endsWith('.ts'))
      .sort()) {
      h.update(f).update(readFileSync(path.join(ROOT, dir, f)));
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** A converter input dir: config + a link to the weights + regenerated tokenizer files. */
function checkpointInput(dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(path.join(CHECKPOINT_DIR, 'config.json'), path.join(dir, 'config.json'));
  symlinkSync(path.join(CHECKPOINT_DIR, 'model.safetensors'), path.join(dir, 'model.safetensors'));
  writeGpt2Tokenizer(dir);
  return dir;
}

type Options = Pick<ConvertOptions, 'quant' | 'attention' | 'sourceName'> & { id: string };

/**
 * The checkpoint converted with these options into an R2-layout dir (models/<id>/manifest.json,
 * blobs/…), made on first use and cached; returns the dir. Safe when test files race for the same
 * conversion: each converts into a private dir and renames it into place.
 */
export async function cachedConversion(o: Options): Promise<string> {
  // One id names one set of options: a new key for an id (the converter or checkpoint changed) replaces the old dir.
  const prefix = `${o.id}@`;
  const dir = path.join(CACHE, `${prefix}${inputsKey(o)}`);
  if (existsSync(path.join(dir, 'models', o.id, 'manifest.json'))) return dir;
  mkdirSync(CACHE, { recursive: true });
  for (const old of readdirSync(CACHE))
    if (old.startsWith(prefix) && !old.includes('.tmp')) rmSync(path.join(CACHE, old), { recursive: true, force: true });
  const work = `${dir}.tmp${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const input = checkpointInput(path.join(work, 'checkpoint'));
    await convertQuiet({ input, out: path.join(work, 'out'), ...o });
    try {
      renameSync(path.join(work, 'out'), dir);
    } catch (e) {
      if (!existsSync(path.join(dir, 'models', o.id, 'manifest.json'))) throw e; // else another test file won the race
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return dir;
}

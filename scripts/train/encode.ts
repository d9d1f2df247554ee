/**
 * GPT-2 (r50k_base) encoding for the Python side, which has no tokenizer.
 *   echo '["text", ...]' | npx tsx scripts/train/encode.ts          → JSON [[ids], ...]
 *   npx tsx scripts/train/encode.ts --file <in.txt> <out.bin>        → uint16-le ids
 * The file form cuts the text only between a non-space and a space character:
 * no pre-tokenizer match spans such a point and none looks behind, so the ids
 * equal whole-text encoding (cutting after a "\n" would not: "\n\n" at the
 * end of a piece is one token, 628, but two before a letter).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { getEncoding } from 'js-tiktoken';

const enc = getEncoding('r50k_base');

function encodeFile(text: string): Uint16Array {
  const ids: number[] = [];
  // Pieces of ~4 KB: one encode() call per piece keeps js-tiktoken's regex work small.
  const cuts = text.split(/(?<=\S)(?=\s)/);
  let piece = '';
  const flush = (): void => {
    for (const id of enc.encode(piece)) ids.push(id);
    piece = '';
  };
  for (const cut of cuts) {
    piece += cut;
    if (piece.length > 4096) flush();
  }
  flush();
  return Uint16Array.from(ids);
}

if (process.argv[2] === '--file') {
  const [, , , inPath, outPath] = process.argv;
  if (!inPath || !outPath) throw new Error('usage: encode.ts --file <in.txt> <out.bin>');
  const ids = encodeFile(readFileSync(inPath, 'utf8'));
  const buf = Buffer.alloc(ids.length * 2);
  ids.forEach((id, i) => buf.writeUInt16LE(id, i * 2));
  writeFileSync(outPath, buf);
  console.log(`${ids.length} tokens → ${outPath}`);
} else {
  const texts = JSON.parse(readFileSync(0, 'utf8')) as string[];
  process.stdout.write(JSON.stringify(texts.map((t) => enc.encode(t))));
}

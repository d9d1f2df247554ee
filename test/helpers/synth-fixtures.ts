/** Temp-dir synthetic checkpoints and conversions shared by the converter tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convert, type ConvertOptions } from '../../scripts/convert/index.ts';
import { writeSyntheticCheckpoint, type SynthOptions } from '../../scripts/lib/synth-gpt2.ts';

/** The odd-sized model the issue asks for: 3 layers, 3 heads, width 48 (head_dim 16), byte-level vocab. */
export const ODD = { n_layer: 3, n_head: 3, n_embd: 48, n_positions: 64, vocab_size: 300 } as const;

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `edge-gpt2-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function synth(dir: string, o: Partial<SynthOptions> = {}): Promise<string> {
  await writeSyntheticCheckpoint({ ...ODD, seed: 3, ...o, out: dir });
  return dir;
}

export async function convertQuiet(o: ConvertOptions) {
  return convert({ ...o, log: () => {} });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

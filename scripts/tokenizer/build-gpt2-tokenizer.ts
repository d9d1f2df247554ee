/**
 * Builds GPT-2's tokenizer files (vocab.json, merges.txt, tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json) from js-tiktoken's r50k_base
 * ranks, which are GPT-2's BPE ranks as raw bytes.
 *
 *   npm run build:tokenizer -- <out-dir>
 *
 * Why derive instead of download: our machines cannot fetch the `gpt2` repo.
 * r50k_base stores each token as bytes with its rank; GPT-2's files store each
 * token as a string through the `bytes_to_unicode` map, and the merges as the
 * rank-ordered pair list. A token of rank r was produced by one merge; running
 * BPE on its bytes with only merges of rank < r leaves exactly the two parts
 * that merge created.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import r50k from 'js-tiktoken/ranks/r50k_base';
import { bytesToUnicode } from '../../worker/model/bytes-to-unicode.ts';

export const EOS_TOKEN = '<|endoftext|>';
export const EOS_ID = 50256;
export const VOCAB_SIZE = 50257;
export const MODEL_MAX_LENGTH = 1024;

export interface Gpt2TokenizerFiles {
  'vocab.json': Record<string, number>;
  'merges.txt': string;
  'tokenizer.json': Record<string, unknown>;
  'tokenizer_config.json': Record<string, unknown>;
  'special_tokens_map.json': Record<string, unknown>;
}

/** Ranked byte tokens as tiktoken ships them: "<prefix> <offset> <b64> <b64> ..." lines. */
export function parseRanks(bpeRanks: string): Uint8Array[] {
  const byRank: Uint8Array[] = [];
  for (const line of bpeRanks.split('\n')) {
    if (line === '') continue;
    const [, offsetStr, ...tokens] = line.split(' ');
    const offset = Number.parseInt(offsetStr ?? '', 10);
    if (!Number.isInteger(offset)) throw new Error(`bad rank line: ${line.slice(0, 40)}`);
    tokens.forEach((b64, i) => {
      byRank[offset + i] = new Uint8Array(Buffer.from(b64, 'base64'));
    });
  }
  for (let r = 0; r < byRank.length; r++) {
    if (byRank[r] === undefined) throw new Error(`rank ${r} missing from r50k_base`);
  }
  return byRank;
}

/** BPE on `bytes` using only merges whose result has rank < maxRank. */
function mergeBelow(bytes: Uint8Array, maxRank: number, rankOf: Map<string, number>): Uint8Array[] {
  let parts: Uint8Array[] = Array.from(bytes, (b) => Uint8Array.of(b));
  for (;;) {
    let best = -1;
    let bestRank = maxRank;
    for (let i = 0; i < parts.length - 1; i++) {
      const joined = concat(parts[i]!, parts[i + 1]!);
      const rank = rankOf.get(key(joined));
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) return parts;
    parts = [...parts.slice(0, best), concat(parts[best]!, parts[best + 1]!), ...parts.slice(best + 2)];
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function key(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

export function buildGpt2TokenizerFiles(): Gpt2TokenizerFiles {
  const byRank = parseRanks(r50k.bpe_ranks);
  if (byRank.length !== EOS_ID) throw new Error(`expected ${EOS_ID} ranked tokens, got ${byRank.length}`);
  const rankOf = new Map(byRank.map((bytes, rank) => [key(bytes), rank]));
  const byteMap = bytesToUnicode();
  const toStr = (bytes: Uint8Array): string => Array.from(bytes, (b) => byteMap[b]!).join('');

  const vocab: Record<string, number> = {};
  byRank.forEach((bytes, rank) => {
    vocab[toStr(bytes)] = rank;
  });
  vocab[EOS_TOKEN] = EOS_ID;

  // Ranks 0..255 are the single bytes; every later rank is one merge, in order.
  const merges: string[] = [];
  for (let rank = 256; rank < byRank.length; rank++) {
    const parts = mergeBelow(byRank[rank]!, rank, rankOf);
    if (parts.length !== 2) throw new Error(`rank ${rank} splits into ${parts.length} parts, expected 2`);
    merges.push(`${toStr(parts[0]!)} ${toStr(parts[1]!)}`);
  }

  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: EOS_ID, content: EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  // clean_up_tokenization_spaces=false: decode must give back the exact text
  // (the cleanup rewrites " ." to "." and breaks byte-exact streaming).
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: {
      [String(EOS_ID)]: { content: EOS_TOKEN, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true },
    },
    bos_token: EOS_TOKEN,
    clean_up_tokenization_spaces: false,
    eos_token: EOS_TOKEN,
    errors: 'replace',
    model_max_length: MODEL_MAX_LENGTH,
    pad_token: null,
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: EOS_TOKEN,
  };
  const specialTokensMap = { bos_token: EOS_TOKEN, eos_token: EOS_TOKEN, unk_token: EOS_TOKEN };

  return {
    'vocab.json': vocab,
    'merges.txt': `#version: 0.2\n${merges.join('\n')}\n`,
    'tokenizer.json': tokenizerJson,
    'tokenizer_config.json': tokenizerConfig,
    'special_tokens_map.json': specialTokensMap,
  };
}

/** Writes the five files into `outDir` (created if missing); returns their paths. */
export function writeGpt2Tokenizer(outDir: string): string[] {
  const files = buildGpt2TokenizerFiles();
  mkdirSync(outDir, { recursive: true });
  return Object.entries(files).map(([name, content]) => {
    const path = join(outDir, name);
    writeFileSync(
      path,
      typeof content === 'string'
        ? content
        : JSON.stringify(content, null, name.endsWith('config.json') || name.startsWith('special') ? 2 : undefined),
    );
    return path;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2];
  if (!outDir) {
    console.error('usage: npm run build:tokenizer -- <out-dir>');
    process.exit(2);
  }
  const t0 = performance.now();
  const paths = writeGpt2Tokenizer(outDir);
  console.log(`wrote ${paths.length} files to ${outDir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

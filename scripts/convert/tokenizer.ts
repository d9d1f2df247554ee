/**
 * The checkpoint's tokenizer as a Hugging Face tokenizer.json: taken as is, or built from GPT-2's
 * `vocab.json` + `merges.txt` (byte-level BPE, `<|endoftext|>` as the special token) like HF's
 * GPT2TokenizerFast does when it converts the slow files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConvertError } from './errors.ts';

const EOS = '<|endoftext|>';

export function loadTokenizerJson(dir: string, vocabSize: number): { json: Uint8Array; notes: string[] } {
  const tj = join(dir, 'tokenizer.json');
  if (existsSync(tj)) {
    const bytes = readFileSync(tj);
    let parsed: { model?: { type?: string; vocab?: Record<string, number> }; added_tokens?: { id: number }[] };
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
    } catch (e) {
      throw new ConvertError('bad_tokenizer', `${tj} is not valid JSON: ${(e as Error).message}`);
    }
    if (!parsed.model?.vocab) throw new ConvertError('bad_tokenizer', `${tj} has no model.vocab; is it a Hugging Face tokenizer.json?`);
    checkIds(tj, [...Object.values(parsed.model.vocab), ...(parsed.added_tokens ?? []).map((t) => t.id)], vocabSize);
    return { json: new Uint8Array(bytes), notes: [] };
  }
  const vj = join(dir, 'vocab.json');
  const mt = join(dir, 'merges.txt');
  if (!existsSync(vj) || !existsSync(mt)) {
    throw new ConvertError(
      'missing_tokenizer',
      `no tokenizer in ${dir}: need tokenizer.json, or vocab.json + merges.txt (GPT-2's tokenizer files; \`npm run build:tokenizer -- ${dir}\` writes them)`,
    );
  }
  let vocab: Record<string, number>;
  try {
    vocab = JSON.parse(readFileSync(vj, 'utf8')) as Record<string, number>;
  } catch (e) {
    throw new ConvertError('bad_tokenizer', `${vj} is not valid JSON: ${(e as Error).message}`);
  }
  const merges = readFileSync(mt, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0 && !l.startsWith('#version'));
  for (const m of merges) {
    if (m.split(' ').length !== 2) throw new ConvertError('bad_tokenizer', `${mt}: bad merge line ${JSON.stringify(m)}`);
  }
  const eosId = vocab[EOS];
  checkIds(vj, Object.values(vocab), vocabSize);
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens:
      eosId === undefined
        ? []
        : [{ id: eosId, content: EOS, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  return {
    json: new TextEncoder().encode(JSON.stringify(json)),
    notes: [`built tokenizer.json from vocab.json + merges.txt (${merges.length} merges)`],
  };
}

function checkIds(path: string, ids: number[], vocabSize: number): void {
  const max = ids.reduce((a, b) => Math.max(a, b), -1);
  if (max >= vocabSize) throw new ConvertError('bad_tokenizer', `${path} has token id ${max}, outside the model's vocab_size ${vocabSize}`);
}

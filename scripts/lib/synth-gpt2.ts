/**
 * Synthetic GPT-2 checkpoints in Hugging Face layout (config.json, model.safetensors, tokenizer files) with
 * deterministic pseudo-random weights: for tests and benchmarks of the converter, no download needed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGpt2Tokenizer, VOCAB_SIZE, EOS_TOKEN } from '../tokenizer/index.ts';
import { bytesToUnicode } from '../../worker/model/bytes-to-unicode.ts';
import { floatArrayToHalf, floatToBf16 } from './half.ts';
import { gpt2Tensors, type Gpt2Dims, type TensorSpec } from './gpt2-names.ts';
import { Prng } from './prng.ts';
import { writeSafetensors } from './safetensors.ts';

export interface SynthOptions extends Gpt2Dims {
  out: string;
  seed?: number;
  /** Write names with HF GPT2LMHeadModel's `transformer.` prefix (default true). */
  prefix?: boolean;
  dtype?: 'f32' | 'f16' | 'bf16';
  /** Std of the embedding and linear weights (GPT-2 uses 0.02; larger gives peakier logits). */
  initStd?: number;
  /** Also write an `lm_head.weight` equal to wte (some exports do). */
  lmHead?: boolean;
  onProgress?: (msg: string) => void;
}

const CHUNK = 1 << 20; // elements generated per chunk: bounded memory for any size

export async function writeSyntheticCheckpoint(o: SynthOptions): Promise<void> {
  if (o.n_embd % o.n_head !== 0) throw new Error(`n_embd ${o.n_embd} is not divisible by n_head ${o.n_head}`);
  if (o.vocab_size < 257) throw new Error('vocab_size must be >= 257 (256 byte tokens + <|endoftext|>)');
  mkdirSync(o.out, { recursive: true });
  const std = o.initStd ?? 0.02;
  const prefix = (o.prefix ?? true) ? 'transformer.' : '';
  const dtype = o.dtype ?? 'f32';
  const eos = o.vocab_size - 1;
  writeFileSync(join(o.out, 'config.json'), JSON.stringify(hfConfig(o, eos), null, 2) + '\n');

  const specs = gpt2Tensors(o);
  const prng = new Prng(o.seed ?? 1);
  const tensors = specs.map((t) => ({
    name: prefix + t.name,
    dtype: ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[dtype],
    shape: t.shape,
    chunks: () => generate(t, prng, std, o.n_layer, dtype, o.onProgress),
  }));
  if (o.lmHead) {
    // Same stream as wte: a second generator seeded identically reproduces its values.
    const wte = specs[0]!;
    const again = new Prng(o.seed ?? 1);
    tensors.push({
      name: 'lm_head.weight',
      dtype: tensors[0]!.dtype,
      shape: wte.shape,
      chunks: () => generate(wte, again, std, o.n_layer, dtype),
    });
  }
  await writeSafetensors(join(o.out, 'model.safetensors'), tensors, { format: 'pt' });
  writeTokenizer(o.out, o.vocab_size);
}

function* generate(t: TensorSpec, prng: Prng, std: number, nLayer: number, dtype: 'f32' | 'f16' | 'bf16', progress?: (m: string) => void) {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (n > 4 * CHUNK) progress?.(`  ${t.name} [${t.shape.join(', ')}]`);
  for (let at = 0; at < n; at += CHUNK) {
    const buf = new Float32Array(Math.min(CHUNK, n - at));
    switch (t.kind) {
      case 'embedding':
      case 'weight':
        prng.fillNormal(buf, std);
        break;
      case 'position':
        prng.fillNormal(buf, std / 2);
        break;
      case 'proj_weight': // GPT-2 scales residual projections by 1/sqrt(2 n_layer)
        prng.fillNormal(buf, std / Math.sqrt(2 * nLayer));
        break;
      case 'bias':
        prng.fillNormal(buf, std);
        break;
      // LayerNorm params are not 1/0 so that a swapped weight/bias or a skipped LayerNorm shows in tests.
      case 'ln_weight':
        prng.fillNormal(buf, 0.1, 1);
        break;
      case 'ln_bias':
        prng.fillNormal(buf, 0.05);
        break;
    }
    if (dtype === 'f16') yield new Uint8Array(floatArrayToHalf(buf).buffer);
    else if (dtype === 'bf16') yield new Uint8Array(Uint16Array.from(buf, floatToBf16).buffer);
    else yield new Uint8Array(buf.buffer);
  }
}

function hfConfig(d: Gpt2Dims, eos: number) {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    n_layer: d.n_layer,
    n_head: d.n_head,
    n_embd: d.n_embd,
    n_positions: d.n_positions,
    n_ctx: d.n_positions,
    vocab_size: d.vocab_size,
    ...(d.n_inner != null ? { n_inner: d.n_inner } : {}), // absent: 4 x n_embd
    layer_norm_epsilon: 1e-5,
    bos_token_id: eos,
    eos_token_id: eos,
    initializer_range: 0.02,
    attn_pdrop: 0.1,
    embd_pdrop: 0.1,
    resid_pdrop: 0.1,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  };
}

/**
 * Full GPT-2 vocab: the real tokenizer files. Other sizes: a byte-level tokenizer.json with the 256 byte
 * tokens at GPT-2's ids 0..255 (no merges) and `<|endoftext|>` as the last id, so any text encodes.
 */
function writeTokenizer(dir: string, vocab: number): void {
  if (vocab === VOCAB_SIZE) {
    writeGpt2Tokenizer(dir);
    return;
  }
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizer(vocab)));
}

export function byteLevelTokenizer(vocab: number): unknown {
  const b2u = bytesToUnicode();
  const v: Record<string, number> = {};
  // GPT-2's ids 0..255 are the byte symbols in bytes_to_unicode order: printable ranges first.
  // (openai/gpt-2's `bs` list: the bytes that map to themselves, then the rest in byte order.)
  const selfMapped = b2u.filter((ch, b) => ch.charCodeAt(0) === b);
  const shifted = b2u.filter((ch, b) => ch.charCodeAt(0) !== b);
  [...selfMapped, ...shifted].forEach((ch, i) => (v[ch] = i));
  v[EOS_TOKEN] = vocab - 1;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: vocab - 1, content: EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
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
      vocab: v,
      merges: [],
    },
  };
}

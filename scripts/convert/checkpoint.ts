/**
 * Opens a Hugging Face GPT-2 checkpoint directory and checks it completely before any conversion work:
 * config fields, every tensor's name, shape and dtype (with or without the `transformer.` prefix), and the
 * tokenizer. Weights are not read here; the converter streams them tensor by tensor.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpt2Tensors, type Gpt2Dims } from '../lib/gpt2-names.ts';
import { FLOAT_DTYPES, SafetensorsError, SafetensorsFile } from '../lib/safetensors.ts';
import { ConvertError } from './errors.ts';
import { loadTokenizerJson } from './tokenizer.ts';

export interface Gpt2Config extends Gpt2Dims {
  /** As in config.json: null means 4 x n_embd (innerWidth). */
  n_inner: number | null;
  layer_norm_epsilon: number;
  bos_token_id: number;
  eos_token_id: number;
}

export interface Checkpoint {
  dir: string;
  config: Gpt2Config;
  st: SafetensorsFile;
  /** `transformer.` or '' */
  prefix: string;
  /** tokenizer.json bytes (built from vocab.json + merges.txt when the checkpoint has no tokenizer.json). */
  tokenizerJson: Uint8Array;
  /** Things worth telling the user that are not errors (ignored tensors, tied head, built tokenizer). */
  notes: string[];
  /** Source dtype of the weights, e.g. F16. */
  dtype: string;
  close(): Promise<void>;
}

export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const config = readConfig(dir);
  const stPath = join(dir, 'model.safetensors');
  if (!existsSync(stPath)) {
    const other = ['pytorch_model.bin', 'tf_model.h5', 'model.onnx'].filter((f) => existsSync(join(dir, f)));
    throw new ConvertError(
      'missing_file',
      `${stPath} not found` +
        (other.length
          ? ` (found ${other.join(', ')}; only safetensors is supported: convert it with transformers' save_pretrained(safe_serialization=True))`
          : ''),
    );
  }
  let st: SafetensorsFile;
  try {
    st = await SafetensorsFile.open(stPath);
  } catch (e) {
    throw fromSafetensors(e);
  }
  try {
    const { prefix, notes, dtype } = checkTensors(st, config);
    const tok = loadTokenizerJson(dir, config.vocab_size);
    notes.push(...tok.notes);
    return { dir, config, st, prefix, tokenizerJson: tok.json, notes, dtype, close: () => st.close() };
  } catch (e) {
    await st.close();
    throw e;
  }
}

function readConfig(dir: string): Gpt2Config {
  const path = join(dir, 'config.json');
  if (!existsSync(dir)) throw new ConvertError('missing_file', `checkpoint directory ${dir} does not exist`);
  if (!existsSync(path)) throw new ConvertError('missing_file', `${path} not found; is ${dir} a Hugging Face checkpoint directory?`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ConvertError('bad_config', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (raw.model_type !== undefined && raw.model_type !== 'gpt2') {
    throw new ConvertError('bad_config', `${path}: model_type is ${JSON.stringify(raw.model_type)}, expected "gpt2"`);
  }
  const act = raw.activation_function;
  if (act !== undefined && act !== 'gelu_new') {
    throw new ConvertError('bad_config', `${path}: activation_function ${JSON.stringify(act)} is not supported (GPT-2 uses gelu_new)`);
  }
  // GPT2Config switches that change the math; the graph implements the defaults only.
  const unsupported: [string, unknown, unknown][] = [
    ['scale_attn_weights', raw.scale_attn_weights, true],
    ['scale_attn_by_inverse_layer_idx', raw.scale_attn_by_inverse_layer_idx, false],
  ];
  for (const [key, value, want] of unsupported) {
    if (value !== undefined && value !== want)
      throw new ConvertError('bad_config', `${path}: ${key}=${JSON.stringify(value)} is not supported (GPT-2 uses ${want})`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new ConvertError('bad_config', `${path}: ${key} must be a non-negative integer, got ${JSON.stringify(raw[key])}`);
    }
    return v;
  };
  const vocab = int('vocab_size');
  const c: Gpt2Config = {
    n_layer: int('n_layer'),
    n_head: int('n_head'),
    n_embd: int('n_embd'),
    n_positions: int('n_positions', typeof raw.n_ctx === 'number' ? raw.n_ctx : undefined),
    vocab_size: vocab,
    n_inner: raw.n_inner == null ? null : int('n_inner'),
    layer_norm_epsilon: typeof raw.layer_norm_epsilon === 'number' ? raw.layer_norm_epsilon : 1e-5,
    bos_token_id: int('bos_token_id', vocab - 1),
    eos_token_id: int('eos_token_id', vocab - 1),
  };
  for (const k of ['n_layer', 'n_head', 'n_embd', 'n_positions', 'vocab_size', 'n_inner'] as const) {
    if (c[k] === 0) throw new ConvertError('bad_config', `${path}: ${k} must be positive`);
  }
  if (c.n_embd % c.n_head !== 0) throw new ConvertError('bad_config', `${path}: n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`);
  if (c.eos_token_id >= vocab || c.bos_token_id >= vocab)
    throw new ConvertError('bad_config', `${path}: bos/eos token id outside the vocabulary (${vocab})`);
  if (!(c.layer_norm_epsilon > 0)) throw new ConvertError('bad_config', `${path}: layer_norm_epsilon must be positive`);
  return c;
}

/**
 * An MLP tensor whose width is not the config's: the usual cause is n_inner (absent or null means
 * 4 x n_embd), so the message says which width the tensor has and what config.json should say.
 */
function mlpWidthError(name: string, shape: readonly number[], expected: readonly number[], c: Gpt2Config): ConvertError {
  const fc = name.includes('.c_fc.');
  // c_fc.weight [n_embd, inner], c_fc.bias [inner], c_proj.weight [inner, n_embd]: only the inner width differs?
  const onlyWidth = shape.length === expected.length && (fc ? shape.length === 1 || shape[0] === c.n_embd : shape[1] === c.n_embd);
  const width = fc ? shape[shape.length - 1] : shape[0];
  const said = c.n_inner === null ? `n_inner is null, i.e. 4 x n_embd = ${4 * c.n_embd}` : `n_inner is ${c.n_inner}`;
  const hint = onlyWidth ? `; if the weights are right, set "n_inner": ${width} in config.json` : '';
  return new ConvertError(
    'bad_shape',
    `${name} has shape [${shape.join(', ')}], expected [${expected.join(', ')}]: config.json's ${said}${hint}`,
  );
}

/** Names HF stores beside the weights that are not weights (causal-mask buffers of older exports). */
const IGNORABLE = /(^|\.)attn\.(bias|masked_bias)$/;

function checkTensors(st: SafetensorsFile, c: Gpt2Config): { prefix: string; notes: string[]; dtype: string } {
  const names = [...st.tensors.keys()];
  const prefix = names.some((n) => n.startsWith('transformer.')) ? 'transformer.' : '';
  const notes: string[] = [];
  const expected = gpt2Tensors(c);
  const expectedNames = new Set(expected.map((t) => prefix + t.name));
  const sample = names.slice(0, 6).join(', ') + (names.length > 6 ? ', …' : '');
  const dtypes = new Set<string>();
  for (const t of expected) {
    const info = st.tensors.get(prefix + t.name);
    if (!info) {
      throw new ConvertError(
        'missing_tensor',
        `missing ${prefix + t.name} — is this a GPT-2 checkpoint with n_layer=${c.n_layer}? found names like ${sample}`,
      );
    }
    if (!(FLOAT_DTYPES as readonly string[]).includes(info.dtype)) {
      throw new ConvertError('unsupported_dtype', `${info.name} has dtype ${info.dtype}; supported: ${FLOAT_DTYPES.join(', ')}`);
    }
    dtypes.add(info.dtype);
    if (info.shape.join(',') !== t.shape.join(',')) {
      if (/\.mlp\.(c_fc\.(weight|bias)|c_proj\.weight)$/.test(t.name)) throw mlpWidthError(info.name, info.shape, t.shape, c);
      throw new ConvertError(
        'bad_shape',
        `${info.name} has shape [${info.shape.join(', ')}], expected [${t.shape.join(', ')}] from config.json (Conv1D weights are [in, out])`,
      );
    }
  }
  const ignored: string[] = [];
  for (const n of names) {
    if (expectedNames.has(n)) continue;
    if (n === 'lm_head.weight') {
      const wte = st.get(prefix + 'wte.weight');
      const lm = st.get(n);
      if (lm.shape.join(',') !== wte.shape.join(','))
        throw new ConvertError('bad_shape', `lm_head.weight has shape [${lm.shape.join(', ')}], expected wte's [${wte.shape.join(', ')}]`);
      notes.push('lm_head.weight present: checked equal to wte (tied) while converting, stored once');
      continue;
    }
    ignored.push(n);
  }
  const unexpected = ignored.filter((n) => !IGNORABLE.test(n));
  if (ignored.length)
    notes.push(`ignored ${ignored.length} non-weight tensor(s): ${ignored.slice(0, 4).join(', ')}${ignored.length > 4 ? ', …' : ''}`);
  if (unexpected.length) notes.push(`warning: unexpected tensors not used: ${unexpected.slice(0, 4).join(', ')}`);
  return { prefix, notes, dtype: [...dtypes].join('+') };
}

export function fromSafetensors(e: unknown): unknown {
  if (!(e instanceof SafetensorsError)) return e;
  const code =
    e.code === 'truncated'
      ? 'truncated'
      : e.code === 'unsupported_dtype'
        ? 'unsupported_dtype'
        : e.code === 'missing_tensor'
          ? 'missing_tensor'
          : e.code === 'io'
            ? 'io'
            : 'bad_safetensors';
  return new ConvertError(code, e.message);
}

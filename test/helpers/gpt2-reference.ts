/**
 * A plain-TypeScript GPT-2 forward pass straight from a checkpoint's safetensors: no ONNX, no quantization,
 * float64 accumulation. The oracle for converted synthetic checkpoints. Small models only (all weights are
 * loaded as float32 arrays).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpt2Tensors } from '../../scripts/lib/gpt2-names.ts';
import { SafetensorsFile } from '../../scripts/lib/safetensors.ts';

export interface RefConfig {
  n_layer: number;
  n_head: number;
  n_embd: number;
  n_positions: number;
  vocab_size: number;
  layer_norm_epsilon: number;
  /** MLP width as config.json gives it; null or absent: 4 x n_embd. */
  n_inner?: number | null;
}

/** Per layer: keys and values [n_head][len][head_dim] flattened as [n_head, len, head_dim]. */
export interface RefCache {
  length: number;
  keys: Float32Array[];
  values: Float32Array[];
}

export interface RefOutput {
  /** [seq, vocab] for every new position */
  logits: Float32Array;
  /** [seq, n_embd] after ln_f */
  hidden: Float32Array;
  cache: RefCache;
}

export class Gpt2Reference {
  private constructor(
    readonly config: RefConfig,
    private readonly w: Map<string, Float32Array>,
  ) {}

  static async load(dir: string): Promise<Gpt2Reference> {
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RefConfig;
    const config = { ...raw, layer_norm_epsilon: raw.layer_norm_epsilon ?? 1e-5 };
    const st = await SafetensorsFile.open(join(dir, 'model.safetensors'));
    const prefix = [...st.tensors.keys()].some((n) => n.startsWith('transformer.')) ? 'transformer.' : '';
    const w = new Map<string, Float32Array>();
    for (const t of gpt2Tensors(config)) w.set(t.name, await st.readFloat32(prefix + t.name));
    await st.close();
    return new Gpt2Reference(config, w);
  }

  private get(name: string): Float32Array {
    const t = this.w.get(name);
    if (!t) throw new Error(`reference: no ${name}`);
    return t;
  }

  emptyCache(): RefCache {
    return { length: 0, keys: [], values: [] };
  }

  forward(ids: readonly number[], cache: RefCache = this.emptyCache()): RefOutput {
    const { n_layer: L, n_head: H, n_embd: E, vocab_size: V, layer_norm_epsilon: eps } = this.config;
    const S = ids.length;
    const past = cache.length;
    const hd = E / H;
    const wte = this.get('wte.weight');
    const wpe = this.get('wpe.weight');
    let x: Float32Array = new Float32Array(S * E); // [seq, n_embd]
    for (let s = 0; s < S; s++) {
      for (let e = 0; e < E; e++) x[s * E + e] = wte[ids[s]! * E + e]! + wpe[(past + s) * E + e]!;
    }
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    const T = past + S;
    for (let l = 0; l < L; l++) {
      const p = `h.${l}`;
      const a = layerNorm(x, S, E, this.get(`${p}.ln_1.weight`), this.get(`${p}.ln_1.bias`), eps);
      const qkv = matmul(a, S, E, this.get(`${p}.attn.c_attn.weight`), 3 * E, this.get(`${p}.attn.c_attn.bias`)); // [seq, 3E]
      // Cache layout [n_head, T, head_dim].
      const K = new Float32Array(H * T * hd);
      const Vv = new Float32Array(H * T * hd);
      const oldK = cache.keys[l];
      const oldV = cache.values[l];
      for (let h = 0; h < H; h++) {
        for (let t = 0; t < past; t++) {
          for (let d = 0; d < hd; d++) {
            K[(h * T + t) * hd + d] = oldK![(h * past + t) * hd + d]!;
            Vv[(h * T + t) * hd + d] = oldV![(h * past + t) * hd + d]!;
          }
        }
        for (let s = 0; s < S; s++) {
          for (let d = 0; d < hd; d++) {
            K[(h * T + past + s) * hd + d] = qkv[s * 3 * E + E + h * hd + d]!;
            Vv[(h * T + past + s) * hd + d] = qkv[s * 3 * E + 2 * E + h * hd + d]!;
          }
        }
      }
      keys.push(K);
      values.push(Vv);
      const att = new Float32Array(S * E);
      const scores = new Float64Array(T);
      for (let h = 0; h < H; h++) {
        for (let s = 0; s < S; s++) {
          const visible = past + s + 1; // causal: position past+s sees 0..past+s
          let max = -Infinity;
          for (let t = 0; t < visible; t++) {
            let dot = 0;
            for (let d = 0; d < hd; d++) dot += qkv[s * 3 * E + h * hd + d]! * K[(h * T + t) * hd + d]!;
            scores[t] = dot / Math.sqrt(hd);
            max = Math.max(max, scores[t]!);
          }
          let sum = 0;
          for (let t = 0; t < visible; t++) sum += scores[t] = Math.exp(scores[t]! - max);
          for (let d = 0; d < hd; d++) {
            let acc = 0;
            for (let t = 0; t < visible; t++) acc += scores[t]! * Vv[(h * T + t) * hd + d]!;
            att[s * E + h * hd + d] = acc / sum;
          }
        }
      }
      x = add(x, matmul(att, S, E, this.get(`${p}.attn.c_proj.weight`), E, this.get(`${p}.attn.c_proj.bias`)));
      const m = layerNorm(x, S, E, this.get(`${p}.ln_2.weight`), this.get(`${p}.ln_2.bias`), eps);
      const inner = this.config.n_inner ?? 4 * E;
      const fc = matmul(m, S, E, this.get(`${p}.mlp.c_fc.weight`), inner, this.get(`${p}.mlp.c_fc.bias`)); // [seq, n_inner]
      for (let i = 0; i < fc.length; i++) fc[i] = geluNew(fc[i]!);
      x = add(x, matmul(fc, S, inner, this.get(`${p}.mlp.c_proj.weight`), E, this.get(`${p}.mlp.c_proj.bias`)));
    }
    const hidden = layerNorm(x, S, E, this.get('ln_f.weight'), this.get('ln_f.bias'), eps);
    const logits = new Float32Array(S * V);
    for (let s = 0; s < S; s++) {
      for (let v = 0; v < V; v++) {
        let acc = 0;
        for (let e = 0; e < E; e++) acc += hidden[s * E + e]! * wte[v * E + e]!;
        logits[s * V + v] = acc;
      }
    }
    return { logits, hidden, cache: { length: T, keys, values } };
  }
}

function layerNorm(x: Float32Array, S: number, E: number, g: Float32Array, b: Float32Array, eps: number): Float32Array {
  const out = new Float32Array(S * E);
  for (let s = 0; s < S; s++) {
    let mean = 0;
    for (let e = 0; e < E; e++) mean += x[s * E + e]!;
    mean /= E;
    let v = 0;
    for (let e = 0; e < E; e++) v += (x[s * E + e]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / E + eps);
    for (let e = 0; e < E; e++) out[s * E + e] = (x[s * E + e]! - mean) * inv * g[e]! + b[e]!;
  }
  return out;
}

/** x [S, K] @ W [K, N] + b: Conv1D. */
function matmul(x: Float32Array, S: number, K: number, W: Float32Array, N: number, b: Float32Array): Float32Array {
  const out = new Float32Array(S * N);
  const acc = new Float64Array(N);
  for (let s = 0; s < S; s++) {
    acc.fill(0);
    for (let k = 0; k < K; k++) {
      const xv = x[s * K + k]!;
      for (let n = 0; n < N; n++) acc[n]! += xv * W[k * N + n]!;
    }
    for (let n = 0; n < N; n++) out[s * N + n] = acc[n]! + b[n]!;
  }
  return out;
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/** GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

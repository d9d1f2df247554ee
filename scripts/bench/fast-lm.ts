/**
 * FastCausalLM: the CausalLM contract over "capacity KV" graphs (graph-rewrite.ts capacityKv). A bench
 * prototype of the proposed worker/model runtime: the cache lives in JS buffers with spare capacity that
 * are reused across steps; each forward feeds them whole (slots past `length` are masked by
 * attention_bias) and appends the graph's new_key/new_value rows. Compared with OnnxCausalLM it drops,
 * per step: ORT-web's copy of every present_* out of the WASM heap and the allocation of fresh JS
 * arrays for them (and the GC of the previous ones).
 */
import type * as ortTypes from 'onnxruntime-web';
import type { CausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig } from '../../worker/generation/types.ts';
import type { Manifest } from '../../worker/model/manifest.ts';
import type { OrtRuntime } from '../../worker/model/ort.ts';

type Tensor = ortTypes.Tensor;

/** Capacity grows in blocks: the fed cache is at most BLOCK - 1 slots longer than the real one. */
export const BLOCK = 32;
const MASKED = -1e9;

class CapacityCache implements KVCache {
  released = false;
  constructor(
    readonly batch: number,
    readonly length: number,
    readonly capacity: number,
    /** layer → [key, value], each [batch, n_head, capacity, head_dim] */
    readonly buffers: Float32Array[][],
  ) {}
}

export function capacityFor(length: number): number {
  return Math.ceil(length / BLOCK) * BLOCK;
}

/** [batch, capacity + seq] key padding mask: 1 for slots [0, length) and the new tokens, 0 for junk slots. */
export function kvMask(batch: number, length: number, capacity: number, seq: number): Int32Array {
  const total = capacity + seq;
  const mask = new Int32Array(batch * total).fill(1);
  for (let b = 0; b < batch; b++) mask.fill(0, b * total + length, b * total + capacity);
  return mask;
}

/** [1, 1, seq, capacity + seq]: slots [0, length) and the new tokens attend; junk slots do not. */
export function attentionBias(length: number, capacity: number, seq: number): Float32Array {
  const total = capacity + seq;
  const bias = new Float32Array(seq * total);
  for (let s = 0; s < seq; s++) bias.fill(MASKED, s * total + length, s * total + capacity);
  return bias;
}

export class FastCausalLM implements CausalLM {
  readonly config: LMConfig;
  private readonly H: number;
  private readonly hd: number;
  private queue: Promise<unknown> = Promise.resolve();
  steps = 0;

  constructor(
    private readonly rt: OrtRuntime,
    private readonly manifest: Manifest,
    private readonly sessions: readonly ortTypes.InferenceSession[],
  ) {
    const c = manifest.config;
    this.config = { vocabSize: c.vocab_size, nPositions: c.n_positions, nEmbd: c.n_embd, nLayer: c.n_layer, eosTokenId: c.eos_token_id, bosTokenId: c.bos_token_id };
    this.H = c.n_head;
    this.hd = c.n_embd / c.n_head;
  }

  forward(req: ForwardRequest): Promise<ForwardResult> {
    const run = this.queue.then(() => this.run(req)); // one ORT run at a time (single-threaded WASM)
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(req: ForwardRequest): Promise<ForwardResult> {
    const batch = req.inputIds.length;
    const seq = req.inputIds[0]?.length ?? 0;
    const past = req.cache ? this.own(req.cache) : null;
    const L = past?.length ?? 0;
    if (L + seq > this.config.nPositions) throw new RangeError(`${L + seq} positions exceed the context of ${this.config.nPositions}`);
    const { Tensor } = this.rt.ort;
    const C = past?.capacity ?? 0; // slots fed this step
    const k = req.logitsFor === 'all' ? seq : 1;
    const common: Record<string, Tensor> = {
      input_ids: new Tensor('int64', BigInt64Array.from(req.inputIds.flat(), BigInt), [batch, seq]),
      logits_index: new Tensor('int64', BigInt64Array.from({ length: k }, (_, i) => BigInt(k === 1 ? seq - 1 : i)), [k]),
      attention_bias: new Tensor('float32', attentionBias(L, C, seq), [1, 1, seq, C + seq]),
      kv_mask: new Tensor('int32', kvMask(batch, L, C, seq), [batch, C + seq]),
      past_length: new Tensor('int64', BigInt64Array.of(BigInt(L)), [1]),
    };
    this.steps++;
    const fresh: Float32Array[][] = [];
    let hidden: Tensor | undefined;
    let logits: Float32Array | undefined;
    let lastHidden: Float32Array | undefined;
    for (const [s, stage] of this.manifest.stages.entries()) {
      const feeds: Record<string, Tensor> = {};
      for (const name of stage.inputs) if (common[name]) feeds[name] = common[name]!;
      if (stage.inputs.includes('hidden_in')) feeds.hidden_in = hidden!;
      for (let i = stage.layers[0]; i < stage.layers[1]; i++) {
        const [kb, vb] = past?.buffers[i] ?? [new Float32Array(0), new Float32Array(0)];
        feeds[`past_key.${i}`] = new Tensor('float32', kb!, [batch, this.H, C, this.hd]);
        feeds[`past_value.${i}`] = new Tensor('float32', vb!, [batch, this.H, C, this.hd]);
      }
      const fetches = stage.outputs.filter((o) => o !== 'last_hidden_state' || req.hidden);
      const out = await this.sessions[s]!.run(feeds, fetches);
      for (let i = stage.layers[0]; i < stage.layers[1]; i++) {
        fresh[i] = [out[`new_key.${i}`]!.data as Float32Array, out[`new_value.${i}`]!.data as Float32Array]; // [batch, seq, n_embd]
      }
      if (hidden) hidden.dispose();
      hidden = out.hidden_out;
      if (out.logits) logits = out.logits.data as Float32Array;
      if (out.last_hidden_state) lastHidden = out.last_hidden_state.data as Float32Array;
    }
    const cache = this.append(past, batch, L, seq, fresh);
    return { logits: logits!, positions: k, cache, ...(lastHidden ? { hidden: lastHidden } : {}) };
  }

  /** Writes the new rows at slots [L, L + seq), growing the buffers (by blocks) when they are full. */
  private append(past: CapacityCache | null, batch: number, L: number, seq: number, fresh: Float32Array[][]): CapacityCache {
    const need = L + seq;
    let { capacity, buffers } = past ?? { capacity: 0, buffers: [] as Float32Array[][] };
    if (need > capacity) {
      const cap = capacityFor(need + 1);
      buffers = Array.from({ length: this.config.nLayer }, (_, i) =>
        [0, 1].map((kv) => {
          const next = new Float32Array(batch * this.H * cap * this.hd);
          const old = past?.buffers[i]?.[kv];
          if (old) for (let r = 0; r < batch * this.H; r++) next.set(old.subarray(r * capacity * this.hd, (r * capacity + L) * this.hd), r * cap * this.hd);
          return next;
        }),
      );
      capacity = cap;
    }
    const E = this.config.nEmbd;
    for (let i = 0; i < this.config.nLayer; i++) {
      for (const kv of [0, 1]) {
        const src = fresh[i]![kv]!; // [batch, seq, n_embd]
        const dst = buffers[i]![kv]!; // [batch, n_head, capacity, head_dim]
        for (let b = 0; b < batch; b++) {
          for (let s = 0; s < seq; s++) {
            for (let h = 0; h < this.H; h++) {
              const from = (b * seq + s) * E + h * this.hd;
              dst.set(src.subarray(from, from + this.hd), ((b * this.H + h) * capacity + L + s) * this.hd);
            }
          }
        }
      }
    }
    if (past) past.released = true;
    return new CapacityCache(batch, need, capacity, buffers);
  }

  private own(cache: KVCache): CapacityCache {
    if (!(cache instanceof CapacityCache)) throw new TypeError('not a cache of this model');
    if (cache.released) throw new Error('KV cache used after release');
    return cache;
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    const src = this.own(cache);
    const row = this.H * src.capacity * this.hd;
    const buffers = src.buffers.map((pair) =>
      pair.map((buf) => {
        const out = new Float32Array(rows.length * row);
        rows.forEach((r, j) => out.set(buf.subarray(r * row, (r + 1) * row), j * row));
        return out;
      }),
    );
    return new CapacityCache(rows.length, src.length, src.capacity, buffers);
  }

  release(cache: KVCache): void {
    if (cache instanceof CapacityCache) cache.released = true;
  }
}

/** Bytes the cache holds in JS (capacity, not length). */
export function cacheBytes(cache: KVCache): number {
  return cache instanceof CapacityCache ? cache.buffers.reduce((n, p) => n + p[0]!.byteLength + p[1]!.byteLength, 0) : 0;
}

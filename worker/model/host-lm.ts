/**
 * HostCausalLM: the CausalLM contract for the `host-attention` layout (manifest.ts). ORT runs the dense
 * segments; this class runs the rest with worker/kernels, whose WASM memory holds:
 *   wte   [vocab, n_embd] int8 (+ scale [vocab]) or float32 — the token lookup and the tied LM head
 *   wpe   [n_positions, n_embd] float32
 *   KV    one block per cache: [batch][layer][key|value][n_head][capacity][head_dim] float32
 * A forward appends its new keys/values into the input cache's block in place (the contract hands the
 * input cache to the model), so the cache is never copied per step; only a cache that runs out of
 * capacity moves once into a bigger block. What crosses into ORT per step is hidden states: a few KB.
 */
import type * as ortTypes from 'onnxruntime-web';
import type { CausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig } from '../generation/types.ts';
import type { Kernels } from '../kernels/index.ts';
import { checkForward, lmConfig, ownCache } from './lm-contract.ts';
import type { Manifest } from './manifest.ts';
import { Mutex } from './mutex.ts';
import type { OrtRuntime } from './ort.ts';

type Session = ortTypes.InferenceSession;

/** Pointers into the kernels' memory of the host tensors (allocated by the loader, owned by the model). */
export interface HostWeights {
  wte: number;
  /** int8 wte only. */
  wteScale?: number;
  wpe: number;
}

/** Positions a cache block grows by: a cache is reallocated (and copied) once per this many tokens. */
const GROW = 64;

class HostKVCache implements KVCache {
  released = false;
  constructor(
    readonly batch: number,
    readonly length: number,
    /** Positions each (row, layer, kind, head) slab has room for. */
    readonly capacity: number,
    readonly ptr: number,
  ) {}
}

export class HostCausalLM implements CausalLM {
  readonly config: LMConfig;
  private readonly H: number;
  private readonly hd: number;
  private readonly int8: boolean;
  private readonly mutex = new Mutex();
  /** Forward calls run so far (all requests): lets tests and logs observe that compute stopped. */
  steps = 0;

  constructor(
    private readonly rt: OrtRuntime,
    private readonly k: Kernels,
    manifest: Manifest,
    private readonly sessions: readonly Session[],
    private readonly w: HostWeights,
  ) {
    const c = manifest.config;
    this.config = lmConfig(c);
    this.H = c.n_head;
    this.hd = c.n_embd / c.n_head;
    this.int8 = manifest.host?.wte.dtype === 'int8';
    if (sessions.length !== c.n_layer + 1)
      throw new Error(`host-attention needs n_layer + 1 = ${c.n_layer + 1} sessions, got ${sessions.length}`);
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const { batch: B, seq: T, past, pastLength: P } = checkForward(req, this.config, HostKVCache);
    const { nEmbd: E, nLayer: L } = this.config;
    const positions = req.logitsFor === 'all' ? T : 1;

    return this.mutex.run(async () => {
      this.steps++;
      if (past) past.released = true; // ours now: its block is extended in place or moved
      const cache = this.reserve(past, B, P + T, req.capacity);
      try {
        const { Tensor } = this.rt.ort;
        const dims = [B, T, E];
        let hidden = this.embed(req.inputIds, P); // [B, T, E]
        let attn: Float32Array | null = null;
        let last: Float32Array | undefined;
        for (let j = 0; j <= L; j++) {
          const feeds: Record<string, ortTypes.Tensor> = { hidden_in: new Tensor('float32', hidden, dims) };
          if (attn) feeds.attn_in = new Tensor('float32', attn, dims);
          const out = await this.sessions[j]!.run(feeds);
          if (j === L) {
            last = out.last_hidden_state!.data as Float32Array;
            break;
          }
          if (j > 0) hidden = out.hidden_out!.data as Float32Array;
          attn = this.attention(out.qkv!.data as Float32Array, j, cache, B, T, P); // [B, T, E]
        }
        const logits = this.head(last!, B, T, positions);
        return { logits, positions, cache, hidden: req.hidden ? last : undefined };
      } catch (err) {
        this.release(cache);
        throw err;
      }
    });
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    const src = ownCache(cache, HostKVCache);
    for (const r of rows) if (r < 0 || r >= src.batch) throw new RangeError(`row ${r} is outside the cache's ${src.batch} rows`);
    const rowBytes = this.rowFloats(src.capacity) * 4;
    const ptr = this.k.alloc(rows.length * rowBytes);
    const mem = this.k.bytes(0, this.k.heapBytes());
    rows.forEach((r, i) => mem.copyWithin(ptr + i * rowBytes, src.ptr + r * rowBytes, src.ptr + (r + 1) * rowBytes));
    return new HostKVCache(rows.length, src.length, src.capacity, ptr);
  }

  release(cache: KVCache): void {
    if (!(cache instanceof HostKVCache) || cache.released) return;
    cache.released = true;
    this.k.free(cache.ptr);
  }

  /** Releases the sessions and the host tensors (the WASM memories stay reserved: they never shrink). */
  async dispose(): Promise<void> {
    await this.mutex.run(async () => {
      for (const s of this.sessions) await s.release();
      for (const p of [this.w.wte, this.w.wteScale, this.w.wpe]) if (p !== undefined) this.k.free(p);
    });
  }

  /** Floats of one row of a cache block: [layer][key|value][n_head][capacity][head_dim]. */
  private rowFloats(capacity: number): number {
    return this.config.nLayer * 2 * this.H * capacity * this.hd;
  }

  /**
   * A block with room for `need` positions: the past block itself when it has room, else a new one sized
   * for the caller's `hint` (the request's whole length: one allocation per request, no copies) or, without
   * a hint, the next multiple of GROW. A grown block is copied once and the old one freed; without hints a
   * long decode leaves freed blocks the next, bigger one cannot reuse, so the hint also bounds the memory.
   */
  private reserve(past: HostKVCache | null, B: number, need: number, hint = 0): HostKVCache {
    if (past && past.capacity >= need) return new HostKVCache(B, need, past.capacity, past.ptr);
    const capacity = Math.min(this.config.nPositions, Math.max(Math.ceil(need / GROW) * GROW, Math.floor(hint)));
    const ptr = this.k.alloc(B * this.rowFloats(capacity) * 4);
    if (past) {
      // Same slabs, wider: copy each (row, layer, kind, head) slab's `length` positions.
      const mem = this.k.bytes(0, this.k.heapBytes());
      const slabs = B * this.config.nLayer * 2 * this.H;
      const oldSlab = past.capacity * this.hd * 4;
      const newSlab = capacity * this.hd * 4;
      const used = past.length * this.hd * 4;
      for (let s = 0; s < slabs; s++) mem.copyWithin(ptr + s * newSlab, past.ptr + s * oldSlab, past.ptr + s * oldSlab + used);
      this.k.free(past.ptr);
    }
    return new HostKVCache(B, need, capacity, ptr);
  }

  /** wte[id] + wpe[position] for every token: [B, T, E]. */
  private embed(ids: readonly (readonly number[])[], P: number): Float32Array {
    const { nEmbd: E, vocabSize: V, nPositions } = this.config;
    const out = new Float32Array(ids.length * ids[0]!.length * E);
    const wpe = this.k.f32(this.w.wpe, nPositions * E);
    const wte: Int8Array | Float32Array = this.int8 ? this.k.i8(this.w.wte, V * E) : this.k.f32(this.w.wte, V * E);
    const scale = this.int8 ? this.k.f32(this.w.wteScale!, V) : null;
    let o = 0;
    for (const row of ids) {
      for (let t = 0; t < row.length; t++, o += E) {
        const id = row[t]!;
        const s = scale ? scale[id]! : 1;
        const src = id * E;
        const p = (P + t) * E;
        for (let e = 0; e < E; e++) out[o + e] = wte[src + e]! * s + wpe[p + e]!;
      }
    }
    return out;
  }

  /**
   * Layer j's attention: appends the T new keys/values of every row into the cache block, then runs
   * causal attention over past + new. qkv: [B, T, 3E] (q | k | v). Returns [B, T, E], heads merged.
   */
  private attention(qkv: Float32Array, j: number, cache: HostKVCache, B: number, T: number, P: number): Float32Array {
    const { nEmbd: E } = this.config;
    const { H, hd } = this;
    const cap = cache.capacity;
    const slab = cap * hd; // floats of one (row, layer, kind, head)
    const out = new Float32Array(B * T * E);
    const rows = this.k.alloc(T * 3 * E * 4); // one batch row's qkv [T, 3E]
    const q = T === 1 ? rows : this.k.alloc(T * E * 4); // attend wants q contiguous [T, E]
    const o = this.k.alloc(T * E * 4);
    try {
      for (let b = 0; b < B; b++) {
        const kBase = cache.ptr + (b * this.config.nLayer + j) * 2 * H * slab * 4; // [H, cap, hd]
        const vBase = kBase + H * slab * 4;
        this.k.f32(rows, T * 3 * E).set(qkv.subarray(b * T * 3 * E, (b + 1) * T * 3 * E));
        this.k.kvAppend(rows + E * 4, T, 3 * E, H, hd, kBase, cap, P); // k of each row, into the cache
        this.k.kvAppend(rows + 2 * E * 4, T, 3 * E, H, hd, vBase, cap, P);
        if (q !== rows) {
          const mem = this.k.bytes(0, this.k.heapBytes());
          for (let t = 0; t < T; t++) mem.copyWithin(q + t * E * 4, rows + t * 3 * E * 4, rows + (t * 3 + 1) * E * 4);
        }
        this.k.attend(q, T, P, kBase, vBase, cap, H, hd, o);
        out.set(this.k.f32(o, T * E), b * T * E);
      }
    } finally {
      this.k.free(rows);
      if (q !== rows) this.k.free(q);
      this.k.free(o);
    }
    return out;
  }

  /** Logits of the last position (or all T) of every row: [B, positions, V]. last: [B, T, E] after ln_f. */
  private head(last: Float32Array, B: number, T: number, positions: number): Float32Array {
    const { nEmbd: E, vocabSize: V } = this.config;
    const rows = B * positions;
    const x = this.k.alloc(rows * E * 4);
    const y = this.k.alloc(rows * V * 4);
    try {
      const xv = this.k.f32(x, rows * E);
      for (let b = 0; b < B; b++) {
        const from = (b * T + T - positions) * E;
        xv.set(last.subarray(from, from + positions * E), b * positions * E);
      }
      if (this.int8) this.k.headInt8(x, rows, this.w.wte, this.w.wteScale!, V, E, y);
      else this.k.headF32(x, rows, this.w.wte, V, E, y);
      return this.k.f32(y, rows * V).slice();
    } finally {
      this.k.free(x);
      this.k.free(y);
    }
  }
}

/**
 * The two halves of a host-attention model (manifest.ts), usable apart so that a model can be split over
 * isolates (worker/stage) or run whole in one (HostCausalLM):
 *
 *   HostEnds    the tied embedding: wte[id] + wpe[pos] on the way in, the LM head on the way out.
 *               Kernel memory: wte [vocab, n_embd] int8 (+ scale [vocab]; reordered in place into the head's blocks of
 *               four rows at load, Kernels.interleave4) or float32, wpe [n_positions, n_embd] float32.
 *   HostLayers  layers [first, end): dense segments first..end-1, ORT graphs or our kernels (dense.ts;
 *               segment j = c_proj + MLP of layer j-1, then ln_1 + c_attn of layer j) with attention over a KV
 *               cache in between; the part that ends at n_layer also runs segment n_layer (c_proj + MLP of the
 *               last layer, ln_f).
 *
 * Between two parts travels the input of the next segment, per row and position:
 *   hidden [B, T, n_embd]  the residual stream before the previous layer's attention (the embedding at layer 0)
 *   attn   [B, T, n_embd]  the previous layer's attention output, heads merged (absent at layer 0)
 * and after the last layer `last` [B, T, n_embd] (after ln_f), which HostEnds.head turns into logits.
 */
import type { Kernels } from '../kernels/index.ts';
import type { SegmentRunner } from './dense.ts';
import type { Manifest } from './manifest.ts';

/** Pointers into the kernels' memory of the host tensors (allocated by the loader, owned by the part). */
export interface HostWeights {
  wte: number;
  /** int8 wte only. */
  wteScale?: number;
  wpe: number;
}

/** Positions a cache block grows by: a cache is reallocated (and copied) once per this many tokens. */
const GROW = 64;

/**
 * The capacity of a block that must hold `need` positions: the caller's `hint` (the request's whole length)
 * or the next multiple of GROW, within the context. (The gateway of a staged model mirrors its stages' blocks with it.)
 */
export function blockCapacity(need: number, hint: number, nPositions: number): number {
  return Math.min(nPositions, Math.max(Math.ceil(need / GROW) * GROW, Math.floor(hint)));
}

/**
 * The rows of one step that share a cache block: a sequence (or a request's num_return_sequences rows),
 * `P` positions already cached, the block reserved for P + T. A step runs one or more groups at once
 * (continuous batching): the dense segments see all their rows as one [ΣB, T, E] batch, attention runs
 * per row over its own group's block.
 */
export interface CacheGroup {
  cache: LayerCache;
  P: number;
}

/** The boundary between two parts: the next segment's inputs. */
export interface PartState {
  hidden: Float32Array;
  attn: Float32Array | null;
}

/** One block of a part's KV cache: [batch][layer in part][key|value][n_head][capacity][head_dim] float32. */
export class LayerCache {
  released = false;
  constructor(
    readonly batch: number,
    readonly length: number,
    /** Positions each (row, layer, kind, head) slab has room for. */
    readonly capacity: number,
    readonly ptr: number,
  ) {}
}

export class HostEnds {
  private readonly V: number;
  private readonly E: number;
  private readonly nPositions: number;
  private readonly int8: boolean;
  /** int8: Σ_e wte[v, e] per vocab row (the head's zero-point correction), i32 [V] in the kernels' memory. */
  private readonly rowSums: number = 0;

  constructor(
    private readonly k: Kernels,
    manifest: Manifest,
    private readonly w: HostWeights,
  ) {
    const c = manifest.config;
    this.V = c.vocab_size;
    this.E = c.n_embd;
    this.nPositions = c.n_positions;
    this.int8 = manifest.host?.wte.dtype === 'int8';
    if (this.int8) {
      this.rowSums = k.alloc(this.V * 4);
      k.rowSumI8(w.wte, this.V, this.E, this.rowSums);
      // The manifest stores wte row-major (the checkpoint's layout); the head reads it in blocks of four
      // rows (headU7). Each block is the same bytes in both layouts, so this reorders in place.
      k.interleave4(w.wte, this.V, this.E);
    }
  }

  /**
   * wte[id] + wpe[past_b + t] for every token: [B, T, E]. `past` is the positions already cached, one per
   * row (rows of different sequences sit at different positions) or one for every row. Ids must already
   * be checked against the vocabulary.
   */
  embed(ids: readonly (readonly number[])[], past: number | readonly number[]): Float32Array {
    const { E, V } = this;
    const out = new Float32Array(ids.length * (ids[0]?.length ?? 0) * E);
    const wpe = this.k.f32(this.w.wpe, this.nPositions * E);
    const wte: Int8Array | Float32Array = this.int8 ? this.k.i8(this.w.wte, V * E) : this.k.f32(this.w.wte, V * E);
    const scale = this.int8 ? this.k.f32(this.w.wteScale!, V) : null;
    let o = 0;
    for (const [b, row] of ids.entries()) {
      const P = typeof past === 'number' ? past : past[b]!;
      for (let t = 0; t < row.length; t++, o += E) {
        const id = row[t]!;
        const p = (P + t) * E;
        if (scale && id < (V & ~3)) {
          // int8 wte in interleave4's layout: row id's 16-byte chunk c at block + 64c + lane
          const s = scale[id]!;
          const base = (id >> 2) * 4 * E + (id & 3) * 16;
          for (let e = 0; e < E; e++) out[o + e] = wte[base + (e >> 4) * 64 + (e & 15)]! * s + wpe[p + e]!;
        } else {
          const s = scale ? scale[id]! : 1;
          const src = id * E;
          for (let e = 0; e < E; e++) out[o + e] = wte[src + e]! * s + wpe[p + e]!;
        }
      }
    }
    return out;
  }

  /**
   * Logits of the last `positions` of every row: [B, positions, V]. last: [B, T, E] after ln_f. int8: each
   * row quantized to 7 bits with a scale and zero point of its own (quant_u7, head_u7), so a row's logits
   * do not depend on the other rows of the call.
   */
  head(last: Float32Array, B: number, T: number, positions: number): Float32Array {
    const { E, V, k } = this;
    const rows = B * positions;
    return k.withScratch((alloc) => {
      const x = alloc(rows * E * 4);
      const y = alloc(rows * V * 4);
      const q = this.int8 ? { xq: alloc(rows * E), xs: alloc(rows * 4), zp: alloc(rows * 4) } : null;
      const xv = k.f32(x, rows * E);
      for (let b = 0; b < B; b++) {
        const from = (b * T + T - positions) * E;
        xv.set(last.subarray(from, from + positions * E), b * positions * E);
      }
      if (q) {
        k.quantU7(x, rows, E, q.xq, q.xs, q.zp);
        k.headU7(q, rows, E, this.w.wte, V, this.rowSums, this.w.wteScale!, y);
      } else k.headF32(x, rows, this.w.wte, V, E, y);
      return k.f32(y, rows * V).slice();
    });
  }

  dispose(): void {
    for (const p of [this.w.wte, this.w.wteScale, this.w.wpe, this.int8 ? this.rowSums : undefined]) if (p !== undefined) this.k.free(p);
  }
}

export class HostLayers {
  private readonly E: number;
  private readonly H: number;
  private readonly hd: number;
  private readonly nPositions: number;
  /** Layers in this part. */
  readonly count: number;
  /** This part ends the transformer (runs segment n_layer: the last MLP and ln_f). */
  readonly final: boolean;

  /**
   * `segments`: segments first..end-1, then segment n_layer when end is n_layer (ORT sessions or our kernels).
   */
  constructor(
    private readonly k: Kernels,
    manifest: Manifest,
    readonly first: number,
    readonly end: number,
    readonly segments: readonly SegmentRunner[],
  ) {
    const c = manifest.config;
    this.E = c.n_embd;
    this.H = c.n_head;
    this.hd = c.n_embd / c.n_head;
    this.nPositions = c.n_positions;
    this.count = end - first;
    this.final = end === c.n_layer;
    if (!(first >= 0 && end > first && end <= c.n_layer))
      throw new RangeError(`layers [${first}, ${end}) are not a part of ${c.n_layer} layers`);
    const want = this.count + (this.final ? 1 : 0);
    if (segments.length !== want) throw new Error(`layers [${first}, ${end}) need ${want} segments, got ${segments.length}`);
  }

  /** Bytes of one cache block: B rows with room for `capacity` positions. */
  cacheBytes(B: number, capacity: number): number {
    return B * this.rowFloats(capacity) * 4;
  }

  /**
   * Runs this part's layers for T new positions of every row of `groups` (rows in group order, ΣB in all),
   * appending their keys and values into each group's block (which must have room for P + T). Returns the
   * next part's input, or `last` (after ln_f, [ΣB, T, E]) when this part is final. A row's result does not
   * depend on the other rows: the segments work per row (per-row activation scales in int8 conversions)
   * and attention reads only the row's own cache.
   */
  async run(state: PartState, groups: readonly CacheGroup[], T: number): Promise<PartState | { last: Float32Array }> {
    const B = groups.reduce((n, g) => n + g.cache.batch, 0);
    let { hidden, attn } = state;
    for (let j = this.first; j < this.end; j++) {
      const out = await this.segments[j - this.first]!.run(hidden, attn, B, T);
      if (j > 0) hidden = out.hidden!;
      attn = this.attention(out.qkv!, j - this.first, groups, T); // [ΣB, T, E]
    }
    if (!this.final) return { hidden, attn };
    const out = await this.segments[this.count]!.run(hidden, attn, B, T);
    return { last: out.last! };
  }

  /**
   * A block with room for `need` positions: the past block itself when it has room, else a new one sized
   * for the caller's `hint` (the request's whole length: one allocation per request, no copies) or, without
   * a hint, the next multiple of GROW. A grown block is copied once and the old one freed.
   */
  reserve(past: LayerCache | null, B: number, need: number, hint = 0): LayerCache {
    if (past && past.capacity >= need) return new LayerCache(B, need, past.capacity, past.ptr);
    const capacity = this.capacityFor(need, hint);
    const ptr = this.k.alloc(this.cacheBytes(B, capacity));
    if (past) {
      // Same slabs, wider: copy each (row, layer, kind, head) slab's `length` positions.
      const mem = this.k.bytes(0, this.k.heapBytes());
      const slabs = B * this.count * 2 * this.H;
      const oldSlab = past.capacity * this.hd * 4;
      const newSlab = capacity * this.hd * 4;
      const used = past.length * this.hd * 4;
      for (let s = 0; s < slabs; s++) mem.copyWithin(ptr + s * newSlab, past.ptr + s * oldSlab, past.ptr + s * oldSlab + used);
      this.k.free(past.ptr);
    }
    return new LayerCache(B, need, capacity, ptr);
  }

  /** The capacity reserve() gives a block that must hold `need` positions. */
  capacityFor(need: number, hint = 0): number {
    return blockCapacity(need, hint, this.nPositions);
  }

  /** A new block whose rows are `rows` of `src` (repeats allowed). */
  selectRows(src: LayerCache, rows: readonly number[]): LayerCache {
    for (const r of rows)
      if (!Number.isInteger(r) || r < 0 || r >= src.batch) throw new RangeError(`row ${r} is outside the cache's ${src.batch} rows`);
    const rowBytes = this.rowFloats(src.capacity) * 4;
    const ptr = this.k.alloc(rows.length * rowBytes);
    const mem = this.k.bytes(0, this.k.heapBytes());
    rows.forEach((r, i) => mem.copyWithin(ptr + i * rowBytes, src.ptr + r * rowBytes, src.ptr + (r + 1) * rowBytes));
    return new LayerCache(rows.length, src.length, src.capacity, ptr);
  }

  release(cache: LayerCache): void {
    if (cache.released) return;
    cache.released = true;
    this.k.free(cache.ptr);
  }

  async dispose(): Promise<void> {
    for (const s of this.segments) await s.release();
  }

  /** Floats of one row of a cache block: [layer][key|value][n_head][capacity][head_dim]. */
  private rowFloats(capacity: number): number {
    return this.count * 2 * this.H * capacity * this.hd;
  }

  /**
   * Attention of this part's layer `l` (0-based within the part): appends the T new keys/values of every
   * row into its group's block, then runs causal attention over that row's past + new. qkv: [ΣB, T, 3E]
   * (q | k | v), rows in group order. Returns [ΣB, T, E], heads merged.
   */
  private attention(qkv: Float32Array, l: number, groups: readonly CacheGroup[], T: number): Float32Array {
    const { E, H, hd } = this;
    const B = groups.reduce((n, g) => n + g.cache.batch, 0);
    const out = new Float32Array(B * T * E);
    const rows = this.k.alloc(T * 3 * E * 4); // one batch row's qkv [T, 3E]
    const q = T === 1 ? rows : this.k.alloc(T * E * 4); // attend wants q contiguous [T, E]
    const o = this.k.alloc(T * E * 4);
    try {
      let row = 0; // index into the step's rows
      for (const { cache, P } of groups) {
        const cap = cache.capacity;
        const slab = cap * hd; // floats of one (row, layer, kind, head)
        for (let b = 0; b < cache.batch; b++, row++) {
          const kBase = cache.ptr + (b * this.count + l) * 2 * H * slab * 4; // [H, cap, hd]
          const vBase = kBase + H * slab * 4;
          this.k.f32(rows, T * 3 * E).set(qkv.subarray(row * T * 3 * E, (row + 1) * T * 3 * E));
          this.k.kvAppend(rows + E * 4, T, 3 * E, H, hd, kBase, cap, P); // k of each row, into the cache
          this.k.kvAppend(rows + 2 * E * 4, T, 3 * E, H, hd, vBase, cap, P);
          if (q !== rows) {
            const mem = this.k.bytes(0, this.k.heapBytes());
            for (let t = 0; t < T; t++) mem.copyWithin(q + t * E * 4, rows + t * 3 * E * 4, rows + (t * 3 + 1) * E * 4);
          }
          this.k.attend(q, T, P, kBase, vBase, cap, H, hd, o);
          out.set(this.k.f32(o, T * E), row * T * E);
        }
      }
    } finally {
      this.k.free(rows);
      if (q !== rows) this.k.free(q);
      this.k.free(o);
    }
    return out;
  }
}

/**
 * HostCausalLM: the CausalLM contract for the `host-attention` layout (manifest.ts). ORT or our kernels run
 * the dense segments (dense.ts); this class runs the rest with worker/kernels, whose WASM memory holds:
 *   wte   [vocab, n_embd] int8 (+ scale [vocab]) or float32 — the token lookup and the tied LM head
 *   wpe   [n_positions, n_embd] float32
 *   KV    one block per cache: [batch][layer][key|value][n_head][capacity][head_dim] float32
 * A forward appends its new keys/values into the input cache's block in place (the contract hands the
 * input cache to the model), so the cache is never copied per step; only a cache that runs out of
 * capacity moves once into a bigger block. What crosses into ORT per step is hidden states: a few KB.
 */
import type { BatchedCausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig } from '../generation/types.ts';
import type { Kernels } from '../kernels/index.ts';
import { HostEnds, HostLayers, type CacheGroup, type HostWeights, type LayerCache } from './host-parts.ts';
import { checkBatch, lmConfig, ownCache } from './lm-contract.ts';
import type { Manifest } from './manifest.ts';
import type { SegmentRunner } from './dense.ts';
import { Mutex } from './mutex.ts';

export type { HostWeights } from './host-parts.ts';

export class HostCausalLM implements BatchedCausalLM {
  readonly config: LMConfig;
  private readonly ends: HostEnds;
  private readonly layers: HostLayers;
  private readonly mutex = new Mutex();
  /** Forward calls run so far (all requests): lets tests and logs observe that compute stopped. */
  steps = 0;

  constructor(k: Kernels, manifest: Manifest, segments: readonly SegmentRunner[], w: HostWeights) {
    const c = manifest.config;
    this.config = lmConfig(c);
    if (segments.length !== c.n_layer + 1)
      throw new Error(`host-attention needs n_layer + 1 = ${c.n_layer + 1} segments, got ${segments.length}`);
    this.ends = new HostEnds(k, manifest, w);
    this.layers = new HostLayers(k, manifest, 0, c.n_layer, segments);
  }

  forward(req: ForwardRequest): Promise<ForwardResult> {
    return this.forwardBatch([req]).then((r) => r[0]!);
  }

  /**
   * One step for several requests with caches of their own (continuous batching): their rows go through the
   * dense segments as one batch and through attention each over its own cache, so every request's result is
   * the one it gets alone (the segments quantize activations per row). Every request must feed the same
   * number of new positions and ask for the same logits.
   */
  async forwardBatch(reqs: readonly ForwardRequest[]): Promise<ForwardResult[]> {
    if (reqs.length === 0) return [];
    const { checked, T, logitsFor } = checkBatch(reqs, this.config, HostKVCache);
    const positions = logitsFor === 'all' ? T : 1;
    const { vocabSize: V, nEmbd: E } = this.config;

    return this.mutex.run(async () => {
      this.steps++;
      const groups: CacheGroup[] = [];
      try {
        for (const [i, { batch, past, pastLength }] of checked.entries()) {
          if (past) past.released = true; // ours now: its block is extended in place or moved
          groups.push({ cache: this.layers.reserve(past?.block ?? null, batch, pastLength + T, reqs[i]!.capacity), P: pastLength });
        }
        const ids = reqs.flatMap((r) => r.inputIds);
        const pasts = checked.flatMap((c) => Array<number>(c.batch).fill(c.pastLength));
        const out = await this.layers.run({ hidden: this.ends.embed(ids, pasts), attn: null }, groups, T);
        const last = (out as { last: Float32Array }).last; // [ΣB, T, E]
        const logits = this.ends.head(last, ids.length, T, positions); // [ΣB, positions, V]
        let row = 0;
        return groups.map(({ cache }, i) => {
          const B = cache.batch;
          const result: ForwardResult = {
            logits: logits.slice(row * positions * V, (row + B) * positions * V),
            positions,
            cache: new HostKVCache(cache),
            ...(reqs[i]!.hidden ? { hidden: last.slice(row * T * E, (row + B) * T * E) } : {}),
          };
          row += B;
          return result;
        });
      } catch (err) {
        for (const g of groups) this.layers.release(g.cache);
        throw err;
      }
    });
  }

  /** Bytes of KV cache `cache` holds in the kernels' memory (its reserved capacity, not just its length). */
  cacheBytes(cache: KVCache): number {
    const c = ownCache(cache, HostKVCache);
    return this.layers.cacheBytes(c.batch, c.capacity);
  }

  /** Bytes a cache of `rows` rows reserved for `positions` positions takes (what admission reserves up front). */
  reserveBytes(rows: number, positions: number): number {
    return this.layers.cacheBytes(rows, this.layers.capacityFor(positions, positions));
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    return new HostKVCache(this.layers.selectRows(ownCache(cache, HostKVCache).block, rows));
  }

  release(cache: KVCache): void {
    if (!(cache instanceof HostKVCache) || cache.released) return;
    cache.released = true;
    this.layers.release(cache.block);
  }

  /** Releases the sessions and the host tensors (the WASM memories stay reserved: they never shrink). */
  async dispose(): Promise<void> {
    await this.mutex.run(async () => {
      await this.layers.dispose();
      this.ends.dispose();
    });
  }
}

/** The contract's cache over one LayerCache block of all layers. */
class HostKVCache implements KVCache {
  released = false;
  constructor(readonly block: LayerCache) {}
  get batch(): number {
    return this.block.batch;
  }
  get length(): number {
    return this.block.length;
  }
  get capacity(): number {
    return this.block.capacity;
  }
  get ptr(): number {
    return this.block.ptr;
  }
}

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
import { HostEnds, HostLayers, type HostWeights, type LayerCache } from './host-parts.ts';
import { lmConfig, ownCache } from './lm-contract.ts';
import type { Manifest } from './manifest.ts';
import { Mutex } from './mutex.ts';
import type { OrtRuntime } from './ort.ts';

export type { HostWeights } from './host-parts.ts';

type Session = ortTypes.InferenceSession;

export class HostCausalLM implements CausalLM {
  readonly config: LMConfig;
  private readonly ends: HostEnds;
  private readonly layers: HostLayers;
  private readonly mutex = new Mutex();
  /** Forward calls run so far (all requests): lets tests and logs observe that compute stopped. */
  steps = 0;

  constructor(rt: OrtRuntime, k: Kernels, manifest: Manifest, sessions: readonly Session[], w: HostWeights) {
    const c = manifest.config;
    this.config = lmConfig(c);
    if (sessions.length !== c.n_layer + 1)
      throw new Error(`host-attention needs n_layer + 1 = ${c.n_layer + 1} sessions, got ${sessions.length}`);
    this.ends = new HostEnds(k, manifest, w);
    this.layers = new HostLayers(rt, k, manifest, 0, c.n_layer, sessions);
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const B = req.inputIds.length;
    const T = req.inputIds[0]?.length ?? 0;
    if (B === 0 || T === 0) throw new RangeError('forward() needs at least one row of at least one token');
    if (req.inputIds.some((row) => row.length !== T)) throw new RangeError('every row of inputIds must have the same length');
    const { vocabSize: V, nPositions } = this.config;
    if (req.inputIds.some((row) => row.some((id) => !Number.isInteger(id) || id < 0 || id >= V))) {
      throw new RangeError(`token ids must be integers in [0, ${V})`);
    }
    const past = req.cache ? ownCache(req.cache, HostKVCache) : null;
    if (past && past.batch !== B) throw new RangeError(`cache has ${past.batch} rows, inputIds has ${B}`);
    const P = past?.length ?? 0;
    if (P + T > nPositions) throw new RangeError(`${P + T} positions exceed the model's context of ${nPositions}`);
    const positions = req.logitsFor === 'all' ? T : 1;

    return this.mutex.run(async () => {
      this.steps++;
      if (past) past.released = true; // ours now: its block is extended in place or moved
      const cache = this.layers.reserve(past?.block ?? null, B, P + T, req.capacity);
      try {
        const out = await this.layers.run({ hidden: this.ends.embed(req.inputIds, P), attn: null }, cache, B, T, P);
        const last = (out as { last: Float32Array }).last;
        const logits = this.ends.head(last, B, T, positions);
        return { logits, positions, cache: new HostKVCache(cache), hidden: req.hidden ? last : undefined };
      } catch (err) {
        this.layers.release(cache);
        throw err;
      }
    });
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

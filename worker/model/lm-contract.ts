/**
 * What both CausalLM implementations (OnnxCausalLM for the graph layout, HostCausalLM for host attention)
 * check and derive the same way: the LMConfig of a manifest, a forward request's shape, token ids and
 * context, and that a cache is one of theirs and still live.
 */
import type { ForwardRequest, KVCache, LMConfig } from '../generation/types.ts';
import type { ModelConfig } from './manifest.ts';

export function lmConfig(c: ModelConfig): LMConfig {
  return {
    vocabSize: c.vocab_size,
    nPositions: c.n_positions,
    nEmbd: c.n_embd,
    nLayer: c.n_layer,
    eosTokenId: c.eos_token_id,
    bosTokenId: c.bos_token_id,
  };
}

/** A cache class of one model: `released` is set once a forward consumed it or `release` freed it. */
export interface OwnedCache extends KVCache {
  released: boolean;
}

/** `cache` as an instance of `Own`, or a TypeError (another model's cache) / Error (used after release). */
export function ownCache<C extends OwnedCache>(cache: KVCache, Own: abstract new (...args: never[]) => C): C {
  if (!(cache instanceof Own)) throw new TypeError('not a KV cache of this model');
  if (cache.released) throw new Error('KV cache used after release (a forward() consumes its input cache)');
  return cache;
}

/**
 * The checks of a forward request before any compute: at least one row of at least one token, rows of
 * one length, token ids in the vocabulary, a cache of this model with as many rows, and past + new
 * positions within the context. Returns the shape and the cache (null for a prefill from nothing).
 */
export function checkForward<C extends OwnedCache>(
  req: ForwardRequest,
  config: LMConfig,
  Own: abstract new (...args: never[]) => C,
): { batch: number; seq: number; past: C | null; pastLength: number } {
  const batch = req.inputIds.length;
  const seq = req.inputIds[0]?.length ?? 0;
  if (batch === 0 || seq === 0) throw new RangeError('forward() needs at least one row of at least one token');
  if (req.inputIds.some((row) => row.length !== seq)) throw new RangeError('every row of inputIds must have the same length');
  const vocab = config.vocabSize;
  if (req.inputIds.some((row) => row.some((id) => !Number.isInteger(id) || id < 0 || id >= vocab))) {
    throw new RangeError(`token ids must be integers in [0, ${vocab})`);
  }
  const past = req.cache ? ownCache(req.cache, Own) : null;
  if (past && past.batch !== batch) throw new RangeError(`cache has ${past.batch} rows, inputIds has ${batch}`);
  const pastLength = past?.length ?? 0;
  if (pastLength + seq > config.nPositions) {
    throw new RangeError(`${pastLength + seq} positions exceed the model's context of ${config.nPositions}`);
  }
  return { batch, seq, past, pastLength };
}

/**
 * checkForward for every request of a batched step (BatchedCausalLM.forwardBatch), plus what a shared step
 * needs: the same number of new positions and the same logits for all, and no cache twice.
 */
export function checkBatch<C extends OwnedCache>(
  reqs: readonly ForwardRequest[],
  config: LMConfig,
  Own: abstract new (...args: never[]) => C,
): { checked: ReturnType<typeof checkForward<C>>[]; T: number; logitsFor: ForwardRequest['logitsFor'] } {
  const checked = reqs.map((req) => checkForward(req, config, Own));
  const T = checked[0]!.seq;
  const logitsFor = reqs[0]!.logitsFor;
  if (checked.some((c) => c.seq !== T)) throw new RangeError('every request of a batch must feed the same number of positions');
  if (reqs.some((r) => r.logitsFor !== logitsFor)) throw new RangeError('every request of a batch must ask for the same logits');
  if (new Set(checked.flatMap((c) => (c.past ? [c.past] : []))).size !== checked.filter((c) => c.past).length)
    throw new RangeError('a cache appears twice in one batch');
  return { checked, T, logitsFor };
}

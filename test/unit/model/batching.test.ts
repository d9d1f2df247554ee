/**
 * Batch invariance of the shipped model (model-shards/, int8, host attention) in Node over the same
 * onnxruntime-web WASM build as the Worker: a row's logits and hidden states from HostCausalLM.forwardBatch
 * are bit-identical whether it runs alone or beside other requests' rows (other tokens, other past
 * lengths, other row counts). This is what lets continuous batching keep seeded outputs reproducible.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import type { BatchedCausalLM, ForwardResult, KVCache } from '../../../worker/generation/types.ts';
import { loadModel } from '../../../worker/model/load-model.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { BUNDLED_ID, SHARDS_DIR } from './fixtures/bundled.ts';

let lm: BatchedCausalLM;

beforeAll(async () => {
  lm = (await loadModel(fsBlobSource(SHARDS_DIR), BUNDLED_ID, { runtime: nodeOrt(), log: () => {} })).lm as BatchedCausalLM;
});

const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 7919 + salt * 104729) % 50000);

/** A sequence prefilled with `ids` (its own cache), ready to decode. */
async function prefilled(ids: number[], rows = 1): Promise<KVCache> {
  const r = await lm.forward({ inputIds: [ids], cache: null, logitsFor: 'last', hidden: true });
  if (rows === 1) return r.cache;
  const tiled = lm.selectRows(r.cache, Array<number>(rows).fill(0));
  lm.release(r.cache);
  return tiled;
}

/** How many elements differ in their bits (a count, not toEqual: vitest's diff of 50,257 floats takes a minute). */
function differing(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = Math.abs(x.length - y.length);
  for (let i = 0; i < Math.min(x.length, y.length); i++) n += Number(x[i] !== y[i]);
  return n;
}

describe('HostCausalLM.forwardBatch', () => {
  it.each([2, 5, 8])('a decode row is bit-identical alone and in a batch of %i requests', async (n) => {
    // The row under test: 5 tokens of past, next token 464. Its neighbours: other pasts, tokens, row counts.
    const alone = await lm.forwardBatch([{ inputIds: [[464]], cache: await prefilled(prompt(5, 1)), logitsFor: 'last', hidden: true }]);
    const others = await Promise.all(
      Array.from({ length: n - 1 }, async (_, k) => ({
        inputIds: Array.from({ length: 1 + (k % 3) }, (_, b) => [(k * 131 + b * 17) % 50257]),
        cache: await prefilled(prompt(2 + 3 * k, k + 2), 1 + (k % 3)),
        logitsFor: 'last' as const,
        hidden: true,
      })),
    );
    const mine = { inputIds: [[464]], cache: await prefilled(prompt(5, 1)), logitsFor: 'last' as const, hidden: true };
    const at = Math.floor(others.length / 2); // somewhere in the middle of the step's rows
    const batch = await lm.forwardBatch([...others.slice(0, at), mine, ...others.slice(at)]);
    const got: ForwardResult = batch[at]!;
    expect(differing(got.logits, alone[0]!.logits)).toBe(0);
    expect(differing(got.hidden!, alone[0]!.hidden!)).toBe(0);
    for (const r of [...alone, ...batch]) lm.release(r.cache);
  });

  it('a prefill is bit-identical alone and beside another prompt of the same length', async () => {
    const a = prompt(6, 3);
    const alone = await lm.forwardBatch([{ inputIds: [a], cache: null, logitsFor: 'last', hidden: true }]);
    const both = await lm.forwardBatch([
      { inputIds: [prompt(6, 4)], cache: null, logitsFor: 'last', hidden: true },
      { inputIds: [a], cache: null, logitsFor: 'last', hidden: true },
    ]);
    expect(differing(both[1]!.hidden!, alone[0]!.hidden!)).toBe(0);
    expect(differing(both[1]!.logits, alone[0]!.logits)).toBe(0);
    for (const r of [...alone, ...both]) lm.release(r.cache);
  });
});

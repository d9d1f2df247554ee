/**
 * The decode-speed variants must compute the same thing as the stock graph + OnnxCausalLM: same logits
 * (prefill, then decode steps across a capacity block boundary), same rows after selectRows, and the
 * fast cache must actually reuse its buffers between steps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../../worker/model/index.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import { loadAnyModel } from '../../../scripts/bench/fast-load.ts';
import { attentionBias, BLOCK, cacheBytes, capacityFor, kvMask } from '../../../scripts/bench/fast-lm.ts';
import { writeVariant, type Variant } from '../../../scripts/bench/variants.ts';
import type { KVCache } from '../../../worker/generation/types.ts';
import { convertQuiet, maxAbsDiff, synth, tempDir } from '../../helpers/synth-fixtures.ts';

const tmp = tempDir('bench-variants');
let base: LoadedModel;
const variants: Partial<Record<string, LoadedModel>> = {};
const PROMPT = [5, 17, 42, 7, 99, 3, 250];

beforeAll(async () => {
  const ck = await synth(`${tmp.dir}/ck`);
  for (const stages of [1, 2]) await convertQuiet({ input: ck, out: `${tmp.dir}/m`, id: `m${stages}`, quant: 'int8', stages, attention: 'graph' });
  base = await loadModel(fsBlobSource(`${tmp.dir}/m`), 'm1', { runtime: nodeOrt(), log: () => {} });
  const want: [string, Variant[]][] = [['m1', ['head']], ['m1', ['mi']], ['m1', ['cs']], ['m1', ['fast']], ['m1', ['fastbias']], ['m2', ['fast', 'cs']]];
  for (const [id, v] of want) {
    const [dir, vid] = writeVariant(`${tmp.dir}/m`, id, v, `${tmp.dir}/v`);
    variants[vid] = await loadAnyModel(fsBlobSource(dir), vid, nodeOrt(), () => {});
  }
}, 120_000);
afterAll(() => tmp.cleanup());

/** Prefill PROMPT, then `steps` greedy-free decode steps on fixed ids; all logits concatenated. */
async function trace(m: LoadedModel, steps: number): Promise<{ logits: number[]; cache: KVCache }> {
  const first = await m.lm.forward({ inputIds: [PROMPT], cache: null, logitsFor: 'all' });
  const logits = [...first.logits];
  let cache = first.cache;
  for (let i = 0; i < steps; i++) {
    const r = await m.lm.forward({ inputIds: [[(i * 37) % 300]], cache, logitsFor: 'last' });
    logits.push(...r.logits);
    cache = r.cache;
  }
  return { logits, cache };
}

describe('decode variants', () => {
  it('give the stock logits, through a capacity block boundary (1 and 2 stages)', async () => {
    const steps = BLOCK + 3 - PROMPT.length; // past crosses one BLOCK: the buffers grow once
    const ref = await trace(base, steps);
    for (const [id, m] of Object.entries(variants)) {
      const got = await trace(m!, steps);
      expect(got.logits.length, id).toBe(ref.logits.length);
      // int8 activations are quantized per call in both graphs: the same math, up to float summation order.
      expect(maxAbsDiff(got.logits, ref.logits), id).toBeLessThan(id.includes('mi') ? 2e-3 : 1e-4);
    }
  });

  it('grows the fast cache by blocks and keeps rows apart after selectRows', async () => {
    const m = variants['m1-fast']!;
    const first = await m.lm.forward({ inputIds: [PROMPT, PROMPT.map((x) => x + 1)], cache: null, logitsFor: 'last' });
    expect(first.cache.length).toBe(PROMPT.length);
    const perSlot = 2 * 2 * 48 * 4; // rows x (key + value) x n_embd x float32, per layer
    expect(cacheBytes(first.cache)).toBe(3 * capacityFor(PROMPT.length + 1) * perSlot);
    const swapped = m.lm.selectRows(first.cache, [1, 0]);
    const a = await m.lm.forward({ inputIds: [[1], [1]], cache: first.cache, logitsFor: 'last' });
    const b = await m.lm.forward({ inputIds: [[1], [1]], cache: swapped, logitsFor: 'last' });
    const V = 300;
    expect(maxAbsDiff(a.logits.subarray(0, V), b.logits.subarray(V))).toBeLessThan(1e-5);
    expect(maxAbsDiff(a.logits.subarray(0, V), a.logits.subarray(V))).toBeGreaterThan(1e-3);
    expect(() => m.lm.forward({ inputIds: [[1], [1]], cache: first.cache, logitsFor: 'last' })).rejects.toThrow(/after release/);
  });

  it('masks exactly the junk slots', () => {
    const bias = attentionBias(2, 4, 2); // [1, 1, seq 2, capacity 4 + seq 2]
    expect(Array.from(bias, (x) => (x === 0 ? 1 : 0))).toEqual([1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1]);
    expect(Array.from(kvMask(2, 1, 3, 1))).toEqual([1, 0, 0, 1, 1, 0, 0, 1]); // [batch 2, capacity 3 + seq 1]
  });
});

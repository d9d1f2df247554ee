/**
 * OnnxCausalLM inside workerd on converted synthetic models (scripts/convert output), checked against
 * the plain-TypeScript reference forward pass (test/helpers/gpt2-reference.ts, run Node-side).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { KVCache } from '../../worker/generation/types.ts';
import { workerdOrt } from '../../worker/model/ort-workerd.ts';
import { createModelProvider } from '../../worker/model/registry.ts';
import type { ModelProvider } from '../../worker/model/types.ts';
import { argmax } from '../../worker/generation/logits.ts';
import { countingR2, fixture, fixtureFetch, fixtureText, greedy, seed } from './helpers.ts';

const PROMPT = [17, 4, 250, 33, 101, 9, 77];
const V = 300;
const E = 48;

async function reference(ids: number[]): Promise<{ logits: number[]; hidden: number[] }> {
  const res = await fixtureFetch('synth/reference', { method: 'POST', body: JSON.stringify({ ids }) });
  return res.json();
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** OnnxCausalLM vs the TS reference (called from model.test.ts). */
export function modelForwardCases(): void {
  describe('HostCausalLM and OnnxCausalLM in workerd (synthetic 3-layer model)', () => {
    let models: ModelProvider;

    beforeAll(async () => {
      const keys = (await fixtureText('synth/list')).split('\n');
      await seed(keys, (key) => fixture(`synth/file/${key}`));
      models = createModelProvider({
        source: countingR2(),
        ids: ['synth-fp32', 'synth-fp32-graph', 'synth-fp32-s3', 'synth-fp32-kv16', 'synth-int8'],
        defaultId: 'synth-fp32',
        runtime: workerdOrt,
      });
    });

    it('prefill (all positions) and hidden states match the reference within 1e-4', async () => {
      const { lm } = await models.get('synth-fp32');
      const ref = await reference(PROMPT);
      const r = await lm.forward({ inputIds: [PROMPT], cache: null, logitsFor: 'all', hidden: true });
      expect(r.positions).toBe(PROMPT.length);
      expect(maxAbsDiff(r.logits, ref.logits)).toBeLessThan(1e-4);
      expect(maxAbsDiff(r.hidden!, ref.hidden)).toBeLessThan(1e-4);
      expect(r.cache.length).toBe(PROMPT.length);
      lm.release(r.cache);
      lm.release(r.cache); // idempotent
    });

    it('greedy KV-cache decoding matches the reference at every step: host attention, in-graph attention (1 and 3 stages, fp16 KV)', async () => {
      const exact = await greedy((await models.get('synth-fp32')).lm, PROMPT, 8);
      const ref = await reference([...PROMPT, ...exact.tokens]);
      exact.logits.forEach((step, i) => {
        const pos = PROMPT.length - 1 + i;
        expect(maxAbsDiff(step, ref.logits.slice(pos * V, (pos + 1) * V)), `step ${i}`).toBeLessThan(1e-4);
      });
      const graph = await greedy((await models.get('synth-fp32-graph')).lm, PROMPT, 8);
      expect(graph.tokens).toEqual(exact.tokens);
      graph.logits.forEach((step, i) => expect(maxAbsDiff(step, exact.logits[i]!)).toBeLessThan(1e-4));
      const staged = await greedy((await models.get('synth-fp32-s3')).lm, PROMPT, 8);
      expect(staged.tokens).toEqual(exact.tokens);
      staged.logits.forEach((step, i) => expect(maxAbsDiff(step, exact.logits[i]!)).toBeLessThan(1e-4));
      const kv16 = await greedy((await models.get('synth-fp32-kv16')).lm, PROMPT, 8);
      expect(kv16.tokens).toEqual(exact.tokens);
      kv16.logits.forEach((step, i) => expect(maxAbsDiff(step, exact.logits[i]!)).toBeLessThan(1e-2));
    });

    it('int8 agrees with fp32 on the top token at nearly every position', async () => {
      const fp = await models.get('synth-fp32');
      const q = await models.get('synth-int8');
      const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % V);
      const a = await fp.lm.forward({ inputIds: [ids], cache: null, logitsFor: 'all' });
      const b = await q.lm.forward({ inputIds: [ids], cache: null, logitsFor: 'all' });
      const agree = ids.filter(
        (_, p) => argmax(a.logits.subarray(p * V, (p + 1) * V)) === argmax(b.logits.subarray(p * V, (p + 1) * V)),
      ).length;
      expect(agree / ids.length).toBeGreaterThanOrEqual(0.9);
      expect(maxAbsDiff(a.logits, b.logits)).toBeLessThan(0.5);
    });

    it('selectRows tiles a prefill; each row then decodes like a batch of one', async () => {
      const { lm } = await models.get('synth-fp32');
      const pre = await lm.forward({ inputIds: [PROMPT], cache: null, logitsFor: 'last' });
      const tiled: KVCache = lm.selectRows(pre.cache, [0, 0, 0]);
      expect([tiled.batch, tiled.length]).toEqual([3, PROMPT.length]);
      const batch = await lm.forward({ inputIds: [[5], [6], [7]], cache: tiled, logitsFor: 'last' });
      expect(() => lm.selectRows(tiled, [0])).toThrow(/after release/); // forward consumed it
      for (const [row, next] of [5, 6, 7].entries()) {
        const alone = await lm.forward({ inputIds: [[...PROMPT, next]], cache: null, logitsFor: 'last' });
        expect(maxAbsDiff(batch.logits.subarray(row * V, (row + 1) * V), alone.logits)).toBeLessThan(1e-4);
        lm.release(alone.cache);
      }
      lm.release(pre.cache);
      lm.release(batch.cache);
    });

    it('concurrent decodes from two "requests" give the same logits as alone', async () => {
      const { lm } = await models.get('synth-fp32');
      const other = [250, 251, 252, 3];
      const aloneA = await greedy(lm, PROMPT, 12);
      const aloneB = await greedy(lm, other, 12);
      const [a, b] = await Promise.all([greedy(lm, PROMPT, 12), greedy(lm, other, 12)]);
      expect(a.tokens).toEqual(aloneA.tokens);
      expect(b.tokens).toEqual(aloneB.tokens);
      a.logits.forEach((l, i) => expect(maxAbsDiff(l, aloneA.logits[i]!)).toBe(0));
      b.logits.forEach((l, i) => expect(maxAbsDiff(l, aloneB.logits[i]!)).toBe(0));
    });

    it('rejects malformed forward requests with RangeError', async () => {
      const { lm } = await models.get('synth-fp32');
      await expect(lm.forward({ inputIds: [], cache: null, logitsFor: 'last' })).rejects.toThrow(RangeError);
      await expect(lm.forward({ inputIds: [[1, 2], [3]], cache: null, logitsFor: 'last' })).rejects.toThrow(RangeError);
      await expect(lm.forward({ inputIds: [Array.from({ length: 65 }, () => 1)], cache: null, logitsFor: 'last' })).rejects.toThrow(
        /context/,
      );
      await expect(lm.forward({ inputIds: [[1, V]], cache: null, logitsFor: 'last' })).rejects.toThrow(/token ids/);
      expect(E).toBe(lm.config.nEmbd);
    });
  });
}

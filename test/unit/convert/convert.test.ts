/**
 * fp32 conversion of odd-sized synthetic checkpoints against the plain-TypeScript reference forward pass:
 * prefill, KV-cache decode, batches, stages, f16/BF16 sources, float16 KV.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Gpt2Reference, type RefCache } from '../../helpers/gpt2-reference.ts';
import { OrtModel } from '../../helpers/ort-node.ts';
import { convertQuiet, maxAbsDiff, synth, tempDir } from '../../helpers/synth-fixtures.ts';

const TOL = 1e-4;
const PROMPT = [5, 17, 200, 3, 99, 256, 42];
const V = 300;

describe.each([
  { name: 'f32 with transformer. prefix', prefix: true, dtype: 'f32' as const },
  { name: 'f16 without prefix', prefix: false, dtype: 'f16' as const },
  { name: 'bf16 with prefix', prefix: true, dtype: 'bf16' as const },
])('fp32 conversion of a 3-layer, 3-head, width-48 checkpoint ($name)', ({ prefix, dtype }) => {
  const tmp = tempDir('conv');
  let ref: Gpt2Reference;
  const models = new Map<number, OrtModel>();
  const load = async (stages: number): Promise<OrtModel> => {
    const m = models.get(stages) ?? (await OrtModel.load(join(tmp.dir, 'out'), `m${stages}`));
    models.set(stages, m);
    return m;
  };

  beforeAll(async () => {
    const ck = await synth(join(tmp.dir, 'ck'), { prefix, dtype });
    for (const stages of [1, 2, 3])
      await convertQuiet({ input: ck, out: join(tmp.dir, 'out'), id: `m${stages}`, quant: 'fp32', stages, attention: 'graph' });
    ref = await Gpt2Reference.load(ck);
  }, 60_000);
  afterAll(async () => {
    for (const m of models.values()) await m.release();
    tmp.cleanup();
  });

  it('prefill logits and hidden states match the reference within 1e-4', async () => {
    const m = await load(1);
    const r = ref.forward(PROMPT);
    const o = await m.step(
      [PROMPT],
      m.emptyPast(1),
      PROMPT.map((_, i) => i),
    );
    expect(o.logits.length).toBe(PROMPT.length * V);
    expect(maxAbsDiff(o.logits, r.logits)).toBeLessThan(TOL);
    expect(maxAbsDiff(o.hidden, r.hidden)).toBeLessThan(TOL);
  });

  it('KV-cache decode steps match the reference, including a multi-token step', async () => {
    const m = await load(1);
    let rc: RefCache = ref.forward(PROMPT).cache;
    let past = (await m.step([PROMPT], m.emptyPast(1), [PROMPT.length - 1])).present;
    for (const step of [[7], [123], [299, 0], [64]]) {
      const r = ref.forward(step, rc);
      const o = await m.step(
        [step],
        past,
        step.map((_, i) => i),
      );
      expect(maxAbsDiff(o.logits, r.logits)).toBeLessThan(TOL);
      // present_key.0 holds every token so far: [1, n_head, past + seq, head_dim]
      expect(o.present.get('key.0')!.dims).toEqual([1, 3, rc.length + step.length, 16]);
      rc = r.cache;
      past = o.present;
    }
  });

  it('rows of a batch are independent', async () => {
    const m = await load(1);
    const rows = [PROMPT, [...PROMPT].reverse()];
    const o = await m.step(rows, m.emptyPast(2), [PROMPT.length - 1]);
    for (let b = 0; b < 2; b++) {
      const r = ref.forward(rows[b]!);
      expect(maxAbsDiff(o.logits.subarray(b * V, (b + 1) * V), r.logits.subarray((PROMPT.length - 1) * V))).toBeLessThan(TOL);
    }
  });

  it.each([2, 3])('%i stages give the same logits and cache as one', async (stages) => {
    const one = await load(1);
    const split = await load(stages);
    expect(split.manifest.stages.map((s) => s.layers)).toEqual(
      stages === 2
        ? [
            [0, 1],
            [1, 3],
          ]
        : [
            [0, 1],
            [1, 2],
            [2, 3],
          ],
    );
    let p1 = one.emptyPast(1);
    let pn = split.emptyPast(1);
    for (const step of [PROMPT, [9], [10]]) {
      const a = await one.step([step], p1, [step.length - 1]);
      const b = await split.step([step], pn, [step.length - 1]);
      expect(maxAbsDiff(a.logits, b.logits)).toBeLessThan(1e-6);
      expect(maxAbsDiff(a.present.get('value.2')!.data as Float32Array, b.present.get('value.2')!.data as Float32Array)).toBeLessThan(1e-6);
      p1 = a.present;
      pn = b.present;
    }
  });
});

describe('float16 KV cache', () => {
  const tmp = tempDir('kv16');
  afterAll(() => tmp.cleanup());

  it('declares float16 past/present and stays close to the reference over decode steps', async () => {
    const ck = await synth(join(tmp.dir, 'ck'));
    const { manifest } = await convertQuiet({ input: ck, out: join(tmp.dir, 'out'), id: 'kv16', quant: 'fp32', kv: 'float16' });
    expect(manifest.kv_dtype).toBe('float16');
    expect(manifest.memory.kv_cache_bytes_per_token).toBe(2 * 3 * 48 * 2);
    const ref = await Gpt2Reference.load(ck);
    const m = await OrtModel.load(join(tmp.dir, 'out'), 'kv16');
    let rc = ref.forward(PROMPT).cache;
    let past = (await m.step([PROMPT], m.emptyPast(1), [0])).present;
    expect(past.get('key.1')!.type).toBe('float16');
    for (const t of [7, 8, 9]) {
      const r = ref.forward([t], rc);
      const o = await m.step([[t]], past, [0]);
      // fp16 rounding of the cached keys/values only (rel. 2^-11): far below the fp32 graph's own error budget x 100.
      expect(maxAbsDiff(o.logits, r.logits)).toBeLessThan(1e-2);
      rc = r.cache;
      past = o.present;
    }
    await m.release();
  });
});

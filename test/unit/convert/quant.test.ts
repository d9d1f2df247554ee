/**
 * int8 and q4 conversions: error bounds against fp32, q4 exactness against a reference running the
 * q4-dequantized weights, the tied embedding stored once, shard layout and blob reuse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gpt2Tensors } from '../../../scripts/lib/gpt2-names.ts';
import { SafetensorsFile, writeSafetensors } from '../../../scripts/lib/safetensors.ts';
import { quantizeQ4Rows, transpose } from '../../../scripts/convert/quantize.ts';
import { Gpt2Reference } from '../../helpers/gpt2-reference.ts';
import { graphInitializers } from '../../helpers/onnx-inspect.ts';
import { OrtModel, argmax } from '../../helpers/ort-node.ts';
import { ODD, convertQuiet, maxAbsDiff, synth, tempDir } from '../../helpers/synth-fixtures.ts';
import { graphOf } from '../../../worker/model/manifest.ts';

const V = ODD.vocab_size;
const E = ODD.n_embd;
const IDS = Array.from({ length: 60 }, (_, i) => (i * 37 + 11) % V);
const ALL = IDS.map((_, i) => i);

const tmp = tempDir('quant');
const out = join(tmp.dir, 'out');
let ck: string;
const models = new Map<string, OrtModel>();
const model = async (id: string): Promise<OrtModel> => {
  const m = models.get(id) ?? (await OrtModel.load(out, id));
  models.set(id, m);
  return m;
};

beforeAll(async () => {
  ck = await synth(join(tmp.dir, 'ck'));
  for (const quant of ['fp32', 'int8', 'q4'] as const) await convertQuiet({ input: ck, out, id: quant, quant, attention: 'graph' });
  await convertQuiet({ input: ck, out, id: 'q4-128', quant: 'q4', blockSize: 128 });
  await convertQuiet({ input: ck, out, id: 'int8-3', quant: 'int8', stages: 3, attention: 'graph' });
}, 60_000);
afterAll(async () => {
  for (const m of models.values()) await m.release();
  tmp.cleanup();
});

async function logits(id: string): Promise<Float32Array> {
  const m = await model(id);
  return (await m.step([IDS], m.emptyPast(1), ALL)).logits;
}

function agreement(a: Float32Array, b: Float32Array): number {
  let same = 0;
  for (let p = 0; p < IDS.length; p++) if (argmax(a.subarray(p * V, (p + 1) * V)) === argmax(b.subarray(p * V, (p + 1) * V))) same++;
  return same / IDS.length;
}

const maxAbs = (a: Float32Array): number => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('int8', () => {
  it('agrees with fp32 on top-1 and stays within 2% of the logit range', async () => {
    const f = await logits('fp32');
    const q = await logits('int8');
    expect(agreement(f, q)).toBeGreaterThanOrEqual(0.95);
    expect(maxAbsDiff(f, q)).toBeLessThan(0.02 * maxAbs(f));
    expect(maxAbsDiff(f, q)).toBeGreaterThan(0); // it really is quantized
  });

  it('3 stages equal 1 stage', async () => {
    expect(maxAbsDiff(await logits('int8'), await logits('int8-3'))).toBeLessThan(1e-5);
  });
});

describe('q4', () => {
  it('equals a reference forward pass over the q4-dequantized weights (MatMulNBits and the sliced lookup are exact)', async () => {
    const deq = join(tmp.dir, 'ck-q4deq');
    await writeDequantizedQ4(ck, deq, 32);
    const ref = await Gpt2Reference.load(deq);
    expect(maxAbsDiff(await logits('q4'), ref.forward(IDS).logits)).toBeLessThan(1e-4);
  });

  it.each(['q4', 'q4-128'])('%s keeps top-1 mostly and bounded error vs fp32', async (id) => {
    const f = await logits('fp32');
    const q = await logits(id);
    expect(agreement(f, q)).toBeGreaterThanOrEqual(0.7);
    expect(maxAbsDiff(f, q)).toBeLessThan(0.25 * maxAbs(f));
  });
});

describe('tied embedding is stored once', () => {
  it.each([
    ['fp32', ['wte.weight']],
    ['int8', ['wte.weight_qT', 'wte.weight_scale']],
  ])('%s: one copy, used by both the lookup and the head, no Transpose of weights', async (id, names) => {
    const m = (await model(id)).manifest;
    const { initializers, nodes } = graphInitializers(out, graphOf(m.stages[0]!).key);
    expect(initializers.filter((t) => t.name.startsWith('wte')).map((t) => t.name)).toEqual(names);
    // Lookup and head consume the same initializer directly...
    const users = nodes.filter((n) => n.inputs.includes(names[0]!)).map((n) => n.opType);
    expect(users).toEqual(id === 'fp32' ? ['Gather', 'Gemm'] : ['Gather', 'DynamicQuantizeMatMul']);
    // ...and no layout op takes a weight: ORT would constant-fold it into a second copy.
    const weights = new Set(initializers.filter((t) => t.location !== null).map((t) => t.name));
    const layoutOps = nodes.filter((n) => ['Transpose', 'Reshape', 'Unsqueeze', 'Cast'].includes(n.opType));
    expect(layoutOps.filter((n) => weights.has(n.inputs[0]!))).toEqual([]);
    // weights on disk: every parameter once (fp32: 4 bytes each) plus alignment padding only.
    if (id === 'fp32') {
      const params = m.config.parameters;
      expect(m.memory.weights_bytes).toBeGreaterThanOrEqual(params * 4);
      expect(m.memory.weights_bytes).toBeLessThan(params * 4 + 64 * 200);
    }
  });

  it('q4: the vocab slices are the only embedding tensors', async () => {
    const m = (await model('q4')).manifest;
    const names = graphInitializers(out, graphOf(m.stages[0]!).key)
      .initializers.map((t) => t.name)
      .filter((n) => n.startsWith('wte'));
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((n) => /^wte\.q4(_scale)?\.\d+$/.test(n))).toBe(true);
  });

  it('with stages, the first and last stage share one embedding blob', async () => {
    const m = (await model('int8-3')).manifest;
    const first = new Set(m.stages[0]!.shards.map((s) => s.sha256));
    const shared = m.stages[2]!.shards.filter((s) => first.has(s.sha256));
    expect(shared.length).toBe(1);
    expect(m.stages[1]!.shards.some((s) => first.has(s.sha256))).toBe(false);
  });
});

describe('shards', () => {
  it("every initializer of a stage lives in that stage's own shards, 64-byte aligned, inside the shard", async () => {
    for (const id of ['int8-3', 'q4']) {
      const m = (await model(id)).manifest;
      for (const st of m.stages) {
        const locs = new Map(st.shards.map((s) => [s.location, s.bytes]));
        const { initializers } = graphInitializers(out, graphOf(st).key);
        for (const t of initializers.filter((i) => i.location !== null)) expect(locs.has(t.location!)).toBe(true);
        for (const s of st.shards) expect(statSync(join(out, s.key)).size).toBe(s.bytes);
      }
    }
  });

  it('respects the size cap and reuses identical blobs on a re-run', async () => {
    const before = readdirSync(join(out, 'blobs')).length;
    const { manifest } = await convertQuiet({ input: ck, out, id: 'int8-small-shards', quant: 'int8', shardMb: 0.05, attention: 'graph' });
    const shards = manifest.stages[0]!.shards;
    expect(shards.length).toBeGreaterThan(3);
    // 50 KB cap: only a tensor bigger than the cap may make a bigger shard (the embedding, c_fc, c_proj)
    const big = shards.filter((s) => s.bytes > 0.05 * 1024 * 1024);
    expect(big.length).toBeLessThanOrEqual(1 + 3 * 2);
    const mid = readdirSync(join(out, 'blobs')).length;
    await convertQuiet({ input: ck, out, id: 'int8-small-shards', quant: 'int8', shardMb: 0.05, attention: 'graph' });
    await convertQuiet({ input: ck, out, id: 'int8', quant: 'int8', attention: 'graph' });
    expect(readdirSync(join(out, 'blobs')).length).toBe(mid); // nothing new: same content, same names
    expect(mid).toBeGreaterThan(before);
  });
});

/** A copy of `src` whose linear weights and wte are replaced by their q4 round trip (same quantizer). */
async function writeDequantizedQ4(src: string, dst: string, block: number): Promise<void> {
  const st = await SafetensorsFile.open(join(src, 'model.safetensors'));
  const tensors = [];
  for (const t of gpt2Tensors(ODD)) {
    let w = await st.readFloat32('transformer.' + t.name);
    if (t.kind === 'embedding') w = dequantQ4(w, V, E, block);
    else if (t.kind === 'weight' || t.kind === 'proj_weight') {
      const [K, N] = t.shape as [number, number];
      w = transpose(dequantQ4(transpose(w, K, N), N, K, block), N, K);
    }
    const bytes = new Uint8Array(w.buffer);
    tensors.push({ name: t.name, dtype: 'F32' as const, shape: t.shape, chunks: () => [bytes] });
  }
  await st.close();
  (await import('node:fs')).mkdirSync(dst, { recursive: true });
  await writeSafetensors(join(dst, 'model.safetensors'), tensors);
  copyFileSync(join(src, 'config.json'), join(dst, 'config.json'));
}

function dequantQ4(rows: Float32Array, N: number, K: number, block: number): Float32Array {
  const q = quantizeQ4Rows(rows, N, K, block);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / block);
      const byte = q.data[(n * q.blocks + b) * (block / 2) + Math.floor((k % block) / 2)]!;
      const nib = k % 2 === 0 ? byte & 15 : byte >> 4;
      out[n * K + k] = (nib - 8) * q.scales[n * q.blocks + b]!;
    }
  }
  return out;
}

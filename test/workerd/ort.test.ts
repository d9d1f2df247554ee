import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { workerdOrt } from '../../worker/model/ort-workerd.ts';

async function fixture(path: string): Promise<Uint8Array> {
  const res = await env.FIXTURES.fetch(`http://fixtures/${path}`);
  if (!res.ok) throw new Error(`fixture ${path}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

describe('onnxruntime-web in workerd', () => {
  it('runs a graph with external data from the precompiled wasm module', async () => {
    const rt = workerdOrt();
    const graph = await fixture('matmul/graph');
    const weights = await fixture('matmul/weights');
    const session = await rt.ort.InferenceSession.create(graph, {
      executionProviders: ['wasm'],
      externalData: [{ path: 'weights.bin', data: weights }],
    });
    const x = new Float32Array([1, 2, 3, 4]);
    const out = await session.run({ x: new rt.ort.Tensor('float32', x, [1, 4]) });
    const w = new Float32Array(weights.buffer, weights.byteOffset, 12);
    const ref = [0, 1, 2].map((j) => [0, 1, 2, 3].reduce((s, k) => s + x[k]! * w[k * 3 + j]!, 0));
    expect(Array.from(out.y!.data as Float32Array)).toEqual(ref);
    expect(rt.heapBytes()).toBeGreaterThan(0);
    await session.release();
  });
});

/**
 * worker/model inside workerd: ORT from the precompiled .wasm module, the loader and the registry
 * over the real R2 binding.
 */
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { manifestKey } from '../../worker/model/manifest.ts';
import { workerdOrt } from '../../worker/model/ort-workerd.ts';
import { modelProviderFor, wasmHeapBytes } from '../../worker/model/provider.ts';
import { createModelProvider } from '../../worker/model/registry.ts';
import { ModelLoadError, type LoadProgress } from '../../worker/model/types.ts';
import { countingR2, fixture, fixtureText, seed } from './helpers.ts';

const noLog = () => {};
const fastRetry = { retries: 2, baseDelayMs: 1, maxDelayMs: 2 };

/** ORT plumbing, loader and registry over R2 (called from model.test.ts). */
export function modelLoadingCases(): void {
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

  describe('loading from R2 (matmul fixture model)', () => {
    let keys: string[];
    const provider = (source = countingR2()) =>
      createModelProvider({
        source,
        ids: ['matmul'],
        defaultId: 'matmul',
        runtime: workerdOrt,
        log: noLog,
        retry: fastRetry,
        failureBackoff: { initialMs: 0, maxMs: 0 },
      });
    const loadError = (p: Promise<unknown>) =>
      p.then(
        () => expect.unreachable('load should fail'),
        (err: unknown) => {
          expect(err).toBeInstanceOf(ModelLoadError);
          return err as ModelLoadError;
        },
      );

    beforeEach(async () => {
      const listed = await fixtureText('matmul-model/list');
      keys = await seed(listed.split('\n'), (key) => fixture(`matmul-model/file/${key}`));
    });

    it('is lazy, and concurrent first get()s share one load', async () => {
      const source = countingR2();
      const models = provider(source);
      expect(models.state('matmul')).toEqual({ state: 'unloaded' });
      expect(source.gets.size).toBe(0);
      const progress: LoadProgress[] = [];
      const [a, b] = await Promise.all([models.get('matmul', (p) => progress.push(p)), models.get('matmul')]);
      expect(a).toBe(b);
      for (const key of keys) expect(source.gets.get(key), key).toBe(1);
      expect(models.state('matmul')).toEqual({ state: 'ready' });
      const last = progress.at(-1)!;
      expect(last.phase).toBe('ready');
      expect(last.loadedBytes).toBe(last.totalBytes);
      expect(a.tokenizer.decode(a.tokenizer.encode('Hello, world'))).toBe('Hello, world');
    });

    it('missing manifest → manifest_missing; unknown id → unknown_model', async () => {
      await env.MODEL_BUCKET.delete(manifestKey('matmul'));
      expect((await loadError(provider().get('matmul'))).code).toBe('manifest_missing');
      expect((await loadError(provider().get('nope'))).code).toBe('unknown_model');
    });

    it('invalid manifest → manifest_invalid', async () => {
      await env.MODEL_BUCKET.put(manifestKey('matmul'), '{"format":"edge-gpt2/manifest","version":1}');
      expect((await loadError(provider().get('matmul'))).code).toBe('manifest_invalid');
    });

    it('a missing blob → blob_missing, and the next get() after repair succeeds', async () => {
      const shard = keys[2]!;
      const bytes = await fixture(`matmul-model/file/${shard}`);
      await env.MODEL_BUCKET.delete(shard);
      const models = provider();
      const err = await loadError(models.get('matmul'));
      expect(err.code).toBe('blob_missing');
      expect(err.message).toContain(shard);
      expect(models.state('matmul')).toMatchObject({ state: 'failed' });
      await env.MODEL_BUCKET.put(shard, bytes);
      await expect(models.get('matmul')).resolves.toMatchObject({ id: 'matmul' });
    });

    it('one flipped byte → blob_corrupt naming the key, nothing loaded; repair → loads', async () => {
      const models = provider();
      for (const key of keys.slice(0, 3)) {
        const good = await fixture(`matmul-model/file/${key}`);
        const bad = good.slice();
        bad[bad.length >> 1]! ^= 0x01;
        await env.MODEL_BUCKET.put(key, bad);
        const err = await loadError(models.get('matmul'));
        expect(err.code).toBe('blob_corrupt');
        expect(err.message).toContain(key);
        expect(models.state('matmul')).toMatchObject({ state: 'failed' });
        await env.MODEL_BUCKET.put(key, good);
      }
      await expect(models.get('matmul')).resolves.toMatchObject({ id: 'matmul' });
    });

    it('the Worker singleton: one provider per bucket binding, manifests without loading', async () => {
      const served = { ids: ['matmul'], defaultId: 'matmul' };
      const models = modelProviderFor(env.MODEL_BUCKET, served);
      expect(modelProviderFor(env.MODEL_BUCKET, { ...served })).toBe(models);
      expect(models.state('matmul')).toEqual({ state: 'unloaded' });
      const manifest = await models.manifest('matmul');
      expect(manifest.id).toBe('matmul');
      expect(models.state('matmul')).toEqual({ state: 'unloaded' }); // reading the manifest loads nothing
      await expect(models.manifest('other')).rejects.toMatchObject({ code: 'unknown_model' });
      await models.get('matmul');
      expect(wasmHeapBytes()).toBeGreaterThan(0);
    });
  });
}

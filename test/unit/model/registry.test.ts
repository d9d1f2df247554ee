import { describe, expect, it } from 'vitest';
import { memoryBlobSource } from '../../../worker/model/blobs.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { createModelProvider } from '../../../worker/model/registry.ts';
import { ModelLoadError, type LoadedModel, type LoadProgress } from '../../../worker/model/types.ts';
import { buildMatMulModelFiles } from './fixtures/model-files.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const fakeModel = (id: string) => ({ id }) as LoadedModel;
const noRuntime = () => {
  throw new Error('runtime not needed with a fake load');
};

describe('createModelProvider', () => {
  it('rejects a default id outside the served ids at start-up', () => {
    expect(() => createModelProvider({ source: memoryBlobSource(), ids: ['a'], defaultId: 'b', runtime: noRuntime })).toThrow(/MODEL_IDS/);
  });

  it('shares one in-flight load, forwards progress to every waiter, and keeps the model', async () => {
    const pending = deferred<LoadedModel>();
    let loads = 0;
    let report!: (p: LoadProgress) => void;
    const models = createModelProvider({
      source: memoryBlobSource(),
      ids: ['a', 'b'],
      defaultId: 'a',
      runtime: noRuntime,
      load: (_id, onProgress) => {
        loads++;
        report = onProgress;
        return pending.promise;
      },
    });
    const seenA: string[] = [];
    const seenB: string[] = [];
    const seenLate: number[] = [];
    const first = models.get('a', (p) => seenA.push(p.phase));
    const second = models.get('a', (p) => seenB.push(p.phase));
    expect(models.state('a')).toMatchObject({ state: 'loading' });
    expect(models.state('b')).toEqual({ state: 'unloaded' });
    report({ phase: 'shards', loadedBytes: 10, totalBytes: 20 });
    expect(models.state('a')).toMatchObject({ state: 'loading', progress: { loadedBytes: 10, totalBytes: 20 } });
    const late = models.get('a', (p) => seenLate.push(p.loadedBytes)); // joins mid-load: told where it stands
    report({ phase: 'shards', loadedBytes: 20, totalBytes: 20 });
    pending.resolve(fakeModel('a'));
    expect(await first).toBe(await second);
    expect(await late).toBe(await first);
    expect(await models.get('a')).toBe(await first);
    expect(loads).toBe(1);
    expect(seenA).toEqual(['shards', 'shards']);
    expect(seenB).toEqual(['manifest', 'shards', 'shards']);
    expect(seenLate).toEqual([10, 20]);
    expect(models.state('a')).toEqual({ state: 'ready' });
  });

  it('does not cache a failure: the next get() loads again', async () => {
    let loads = 0;
    const models = createModelProvider({
      source: memoryBlobSource(),
      ids: ['a'],
      defaultId: 'a',
      runtime: noRuntime,
      load: async (id) => {
        if (++loads === 1) throw new ModelLoadError('blob_missing', 'blobs/x is missing');
        return fakeModel(id);
      },
    });
    await expect(models.get('a')).rejects.toMatchObject({ code: 'blob_missing' });
    expect(models.state('a')).toEqual({ state: 'failed', error: 'blob_missing: blobs/x is missing' });
    await expect(models.get('a')).resolves.toMatchObject({ id: 'a' });
    expect(loads).toBe(2);
  });

  it('wraps unexpected errors without their stack, and rejects unknown ids', async () => {
    const models = createModelProvider({
      source: memoryBlobSource(),
      ids: ['a'],
      defaultId: 'a',
      runtime: noRuntime,
      load: async () => Promise.reject(new TypeError('boom')),
    });
    await expect(models.get('a')).rejects.toMatchObject({ code: 'session_failed', message: expect.stringContaining('boom') });
    await expect(models.get('zzz')).rejects.toMatchObject({ code: 'unknown_model' });
  });

  it('loads a real model from a memory source through ORT in Node, lazily', async () => {
    const source = memoryBlobSource(buildMatMulModelFiles('m'));
    let runtimes = 0;
    const models = createModelProvider({
      source,
      ids: ['m'],
      defaultId: 'm',
      runtime: () => (runtimes++, nodeOrt()),
      log: () => {},
    });
    expect(source.gets.size + runtimes).toBe(0);
    const model = await models.get('m');
    expect(runtimes).toBe(1);
    expect(model.manifest.id).toBe('m');
    expect(model.lm.config.vocabSize).toBe(50257);
    expect(nodeOrt().heapBytes()).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { memoryBlobSource } from '../../../worker/model/blobs.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import { createModelProvider, parseBackoff } from '../../../worker/model/registry.ts';
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

  it('remembers a failure only for its back-off (1 s doubling to 30 s), then loads again', async () => {
    let loads = 0;
    let clock = 1_000_000;
    let failing = true;
    const models = createModelProvider({
      source: memoryBlobSource(),
      ids: ['a'],
      defaultId: 'a',
      runtime: noRuntime,
      now: () => clock,
      load: async (id) => {
        loads++;
        if (failing) throw new ModelLoadError('blob_missing', 'blobs/x is missing');
        return fakeModel(id);
      },
    });
    await expect(models.get('a')).rejects.toMatchObject({ code: 'blob_missing', retryAfterMs: 1_000 });
    expect(models.state('a')).toEqual({ state: 'failed', error: 'blob_missing: blobs/x is missing', retryAt: clock + 1_000 });
    // Within the back-off: the same error at once, no load, the remaining time.
    clock += 400;
    await expect(models.get('a')).rejects.toMatchObject({ code: 'blob_missing', retryAfterMs: 600 });
    expect(loads).toBe(1);
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      clock = (models.state('a') as { retryAt: number }).retryAt;
      const err = await models.get('a').catch((e: ModelLoadError) => e);
      waits.push((err as ModelLoadError).retryAfterMs!);
    }
    expect(waits).toEqual([2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect(loads).toBe(8);
    failing = false;
    clock += 29_999;
    await expect(models.get('a')).rejects.toMatchObject({ retryAfterMs: 1 });
    clock += 1;
    await expect(models.get('a')).resolves.toMatchObject({ id: 'a' });
    expect(loads).toBe(9);
  });

  it('failureBackoff 0 retries at once', async () => {
    let loads = 0;
    const models = createModelProvider({
      source: memoryBlobSource(),
      ids: ['a'],
      defaultId: 'a',
      runtime: noRuntime,
      failureBackoff: { initialMs: 0, maxMs: 0 },
      load: async (id) => {
        if (++loads === 1) throw new ModelLoadError('blob_missing', 'blobs/x is missing');
        return fakeModel(id);
      },
    });
    await expect(models.get('a')).rejects.toMatchObject({ code: 'blob_missing' });
    await expect(models.get('a')).resolves.toMatchObject({ id: 'a' });
    expect(loads).toBe(2);
  });

  it('LOAD_RETRY_BACKOFF_MS parses "initial,max"', () => {
    expect(parseBackoff(undefined)).toEqual({ initialMs: 1_000, maxMs: 30_000 });
    expect(parseBackoff('0')).toEqual({ initialMs: 0, maxMs: 30_000 });
    expect(parseBackoff('200, 2000')).toEqual({ initialMs: 200, maxMs: 2_000 });
    expect(parseBackoff('nope')).toEqual({ initialMs: 1_000, maxMs: 30_000 });
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

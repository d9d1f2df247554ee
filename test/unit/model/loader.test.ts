import { describe, expect, it } from 'vitest';
import { memoryBlobSource } from '../../../worker/model/blobs.ts';
import { fetchBlobs, fetchManifest, sha256Hex, totalBytes } from '../../../worker/model/loader.ts';
import { blobKey, graphOf, manifestKey, parseManifest } from '../../../worker/model/manifest.ts';
import { backoffDelay, mapLimit, withRetry, type RetryPolicy } from '../../../worker/model/retry.ts';
import { ModelLoadError, type BlobSource } from '../../../worker/model/types.ts';
import { buildMatMulModelFiles } from './fixtures/model-files.ts';

const noLog = () => {};

function policy(sleeps: number[], random = () => 0.5): RetryPolicy {
  return { retries: 3, baseDelayMs: 100, maxDelayMs: 1000, random, sleep: async (ms) => void sleeps.push(ms) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ModelLoadError);
    return (err as ModelLoadError).code;
  }
  throw new Error('expected a ModelLoadError');
}

describe('retry', () => {
  it('backs off exponentially with jitter within [cap/2, cap], capped at maxDelayMs', () => {
    const p = policy([]);
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, p, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, p, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('retries thrown errors, then succeeds', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const v = await withRetry(async () => (++calls < 3 ? Promise.reject(new Error('503')) : 'ok'), policy(sleeps));
    expect(v).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([75, 150]);
  });

  it('gives up after `retries` retries with the last error', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    await expect(withRetry(async () => Promise.reject(new Error(`fail ${++calls}`)), policy(sleeps))).rejects.toThrow('fail 4');
    expect(sleeps).toHaveLength(3);
  });

  it('mapLimit keeps order and never exceeds the limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6, 7], 3, async (x) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, x));
      inFlight--;
      return x * 2;
    });
    expect(out).toEqual([10, 2, 8, 4, 6, 0, 12, 14]);
    expect(peak).toBe(3);
  });
});

describe('loader', () => {
  const files = buildMatMulModelFiles('m');
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(files.get(manifestKey('m'))!)));
  const refs = [manifest.tokenizer, graphOf(manifest.stages[0]!), ...manifest.stages[0]!.shards];

  it('fetches and verifies every blob, reporting bytes', async () => {
    const source = memoryBlobSource(files);
    let seen = 0;
    const blobs = await fetchBlobs(source, refs, { log: noLog, onBytes: (n) => (seen += n) });
    expect(blobs.map((b) => b.byteLength)).toEqual(refs.map((r) => r.bytes));
    expect(seen).toBe(totalBytes(manifest));
    expect(await sha256Hex(blobs[1]!)).toBe(refs[1]!.sha256);
  });

  it('retries transient errors per blob and keeps at most `concurrency` reads in flight', async () => {
    const inner = memoryBlobSource(files);
    const failuresLeft = new Map(refs.map((r) => [r.key, 2]));
    let inFlight = 0;
    let peak = 0;
    const flaky: BlobSource = {
      async get(key) {
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        const left = failuresLeft.get(key) ?? 0;
        if (left > 0) {
          failuresLeft.set(key, left - 1);
          throw new Error('R2 500');
        }
        return inner.get(key);
      },
    };
    const sleeps: number[] = [];
    const blobs = await fetchBlobs(flaky, refs, { log: noLog, concurrency: 2, retry: policy(sleeps) });
    expect(blobs).toHaveLength(refs.length);
    expect(sleeps).toHaveLength(2 * refs.length);
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('maps failures to codes: fetch_failed, blob_missing, blob_corrupt (length and hash)', async () => {
    const sleeps: number[] = [];
    const down: BlobSource = { get: async () => Promise.reject(new Error('R2 down')) };
    expect(await codeOf(fetchBlobs(down, refs, { log: noLog, retry: policy(sleeps) }))).toBe('fetch_failed');

    const missing = memoryBlobSource(files);
    missing.files.delete(refs[2]!.key);
    expect(await codeOf(fetchBlobs(missing, refs, { log: noLog }))).toBe('blob_missing');

    const flipped = memoryBlobSource(files);
    const bad = files.get(refs[1]!.key)!.slice();
    bad[3]! ^= 0x80;
    flipped.files.set(refs[1]!.key, bad);
    expect(await codeOf(fetchBlobs(flipped, refs, { log: noLog }))).toBe('blob_corrupt');
    expect(flipped.gets.get(refs[1]!.key)).toBe(1); // corrupt is not retried: content-addressed reads repeat

    const short = memoryBlobSource(files);
    short.files.set(refs[0]!.key, files.get(refs[0]!.key)!.subarray(1));
    expect(await codeOf(fetchBlobs(short, refs, { log: noLog }))).toBe('blob_corrupt');
  });

  it('a read that hangs times out and is retried; one that always hangs is fetch_failed', async () => {
    const inner = memoryBlobSource(files);
    let calls = 0;
    const hangsOnce: BlobSource = { get: (key) => (++calls === 1 ? new Promise(() => {}) : inner.get(key)) };
    const sleeps: number[] = [];
    const blobs = await fetchBlobs(hangsOnce, refs.slice(0, 1), { log: noLog, attemptTimeoutMs: 20, retry: policy(sleeps) });
    expect(blobs[0]!.byteLength).toBe(refs[0]!.bytes);
    expect(sleeps).toHaveLength(1);
    const hangs: BlobSource = { get: () => new Promise(() => {}) };
    expect(await codeOf(fetchBlobs(hangs, refs.slice(0, 1), { log: noLog, attemptTimeoutMs: 5, retry: policy([]) }))).toBe('fetch_failed');
  });

  it('manifest: missing, unparseable, wrong id, bad blob key', async () => {
    expect(await codeOf(fetchManifest(memoryBlobSource(), 'm', { log: noLog }))).toBe('manifest_missing');
    const put = (json: string) => memoryBlobSource([[manifestKey('m'), new TextEncoder().encode(json)]]);
    expect(await codeOf(fetchManifest(put('{not json'), 'm', { log: noLog }))).toBe('manifest_invalid');
    expect(await codeOf(fetchManifest(put(JSON.stringify({ ...manifest, version: 99 })), 'm', { log: noLog }))).toBe('manifest_invalid');
    expect(await codeOf(fetchManifest(put(JSON.stringify({ ...manifest, id: 'other' })), 'm', { log: noLog }))).toBe('manifest_invalid');
    const badKey = { ...manifest, tokenizer: { ...manifest.tokenizer, key: blobKey('0'.repeat(64)) } };
    expect(await codeOf(fetchManifest(put(JSON.stringify(badKey)), 'm', { log: noLog }))).toBe('manifest_invalid');
    await expect(fetchManifest(memoryBlobSource(files), 'm', { log: noLog })).resolves.toMatchObject({ id: 'm' });
  });
});

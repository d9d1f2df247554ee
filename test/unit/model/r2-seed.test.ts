import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDir, listDir, pushFiles, treeFingerprint, type BucketWriter } from '../../../scripts/lib/r2-seed.ts';
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import { buildMatMulModelFiles } from './fixtures/model-files.ts';

const root = mkdtempSync(path.join(tmpdir(), 'edge-gpt2-seed-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function writeModelDir(name: string): { dir: string; files: Map<string, Uint8Array> } {
  const dir = path.join(root, name);
  const files = buildMatMulModelFiles('m');
  for (const [key, bytes] of files) {
    mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
    writeFileSync(path.join(dir, key), bytes);
  }
  return { dir, files };
}

function fakeBucket(): BucketWriter & { objects: Map<string, Uint8Array>; puts: string[] } {
  const objects = new Map<string, Uint8Array>();
  const puts: string[] = [];
  return {
    objects,
    puts,
    get: async (key) => {
      const v = objects.get(key);
      return v ? { arrayBuffer: async () => v.slice().buffer } : null;
    },
    put: async (key, value) => void (objects.set(key, value), puts.push(key)),
  };
}

describe('R2 seeding (npm start / npm run upload)', () => {
  it('lists blobs before manifests, checks them, and pushes them in that order', async () => {
    const { dir, files } = writeModelDir('ok');
    const listed = await listDir(dir);
    expect(listed.map((f) => f.key).at(-1)).toBe('models/m/manifest.json');
    expect(new Set(listed.map((f) => f.key))).toEqual(new Set(files.keys()));
    expect(await checkDir(listed)).toEqual(['m']);
    const bucket = fakeBucket();
    expect(await pushFiles(bucket, listed, () => {})).toMatchObject({ put: files.size, skipped: 0 });
    expect(bucket.puts.at(-1)).toBe('models/m/manifest.json');
    // Second push: content-addressed blobs are skipped, the manifest (the pointer) is written again.
    bucket.puts.length = 0;
    expect(await pushFiles(bucket, listed, () => {})).toMatchObject({ put: 1, skipped: files.size - 1 });
    expect(bucket.puts).toEqual(['models/m/manifest.json']);
    // A blob corrupted in the bucket (same size, wrong bytes) is put again: content is compared, not size.
    const blob = [...files.keys()].find((k) => k.startsWith('blobs/'))!;
    const bad = files.get(blob)!.slice();
    bad[0]! ^= 1;
    bucket.objects.set(blob, bad);
    bucket.puts.length = 0;
    expect(await pushFiles(bucket, listed, () => {})).toMatchObject({ put: 2, skipped: files.size - 2 });
    expect(bucket.puts).toEqual([blob, 'models/m/manifest.json']);
    expect(bucket.objects.get(blob)).toEqual(files.get(blob));
    expect(await fsBlobSource(dir).get('models/m/manifest.json')).toEqual(files.get('models/m/manifest.json'));
    expect(await fsBlobSource(dir).get('blobs/nope')).toBeNull();
  });

  it('refuses a dir whose blob is corrupt or missing, and the fingerprint follows changes', async () => {
    const { dir, files } = writeModelDir('bad');
    const before = treeFingerprint(await listDir(dir));
    const blob = [...files.keys()].find((k) => k.startsWith('blobs/') && files.get(k)!.byteLength > 100)!;
    const bad = files.get(blob)!.slice();
    bad[50]! ^= 1;
    writeFileSync(path.join(dir, blob), bad);
    await expect(checkDir(await listDir(dir))).rejects.toThrow(/SHA-256/);
    rmSync(path.join(dir, blob));
    await expect(checkDir(await listDir(dir))).rejects.toThrow(/not in the directory/);
    expect(treeFingerprint(await listDir(dir))).not.toBe(before);
    expect(await listDir(path.join(root, 'absent'))).toEqual([]);
  });
});

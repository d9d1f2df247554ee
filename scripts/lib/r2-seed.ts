/**
 * Pushing a directory in the R2 layout (blobs/<sha256>, models/<id>/manifest.json) into a bucket:
 * shared by `npm start` (local seeding) and `npm run upload`. Blobs go first, manifests last, so a
 * reader never sees a manifest whose blobs are not there yet.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { manifestBlobs, parseManifest } from '../../worker/model/manifest.ts';

export interface DirFile {
  key: string;
  path: string;
  bytes: number;
  mtimeMs: number;
}

/** The part of an R2 bucket (binding or proxy) that pushing needs. */
export interface BucketWriter {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  put(key: string, value: Uint8Array): Promise<unknown>;
}

const isManifest = (key: string) => /^models\/[^/]+\/manifest\.json$/.test(key);
const isBlob = (key: string) => /^blobs\/[0-9a-f]{64}$/.test(key);

/** Every file under `dir` as an R2 key (its relative path), non-manifests first. Missing dir → []. */
export async function listDir(dir: string): Promise<DirFile[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files: DirFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    const s = await stat(abs);
    files.push({ key: path.relative(dir, abs).split(path.sep).join('/'), path: abs, bytes: s.size, mtimeMs: s.mtimeMs });
  }
  return files.sort((a, b) => Number(isManifest(a.key)) - Number(isManifest(b.key)) || a.key.localeCompare(b.key));
}

/** A cheap fingerprint of the tree (keys, sizes, mtimes): changes whenever a file does. */
export function treeFingerprint(files: readonly DirFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.key}\0${f.bytes}\0${Math.round(f.mtimeMs)}\n`);
  return h.digest('hex');
}

/**
 * Checks that every manifest parses and that each blob it names is in the dir with the right size
 * and SHA-256, so a broken conversion is caught here rather than as a 503 later.
 */
export async function checkDir(files: readonly DirFile[]): Promise<string[]> {
  const byKey = new Map(files.map((f) => [f.key, f]));
  const ids: string[] = [];
  for (const f of files.filter((x) => isManifest(x.key))) {
    const manifest = parseManifest(JSON.parse(await readFile(f.path, 'utf8')));
    const refs = manifestBlobs(manifest);
    for (const ref of refs) {
      const blob = byKey.get(ref.key);
      if (!blob) throw new Error(`${f.key} needs ${ref.key}, which is not in the directory`);
      if (blob.bytes !== ref.bytes) throw new Error(`${ref.key} has ${blob.bytes} bytes, ${f.key} says ${ref.bytes}`);
      const sha = createHash('sha256')
        .update(await readFile(blob.path))
        .digest('hex');
      if (sha !== ref.sha256) throw new Error(`${ref.key} does not match its SHA-256 (the file is corrupt)`);
    }
    ids.push(manifest.id);
  }
  return ids;
}

export interface PushResult {
  put: number;
  skipped: number;
  bytes: number;
}

/**
 * Puts `files` in order. A content-addressed blob already in the bucket is skipped only when its
 * content hashes to its key: a blob of the right size but corrupt bytes (what a 503 blob_corrupt
 * reports) is put again, so re-uploading repairs it.
 */
export async function pushFiles(
  bucket: BucketWriter,
  files: readonly DirFile[],
  log: (line: string) => void = console.log,
): Promise<PushResult> {
  const result: PushResult = { put: 0, skipped: 0, bytes: 0 };
  for (const f of files) {
    if (isBlob(f.key) && (await intact(bucket, f.key))) {
      result.skipped++;
      continue;
    }
    await bucket.put(f.key, new Uint8Array(await readFile(f.path)));
    result.put++;
    result.bytes += f.bytes;
    if (isManifest(f.key) || f.bytes > 1 << 20) log(`  put ${f.key} (${(f.bytes / 2 ** 20).toFixed(1)} MB)`);
  }
  return result;
}

/** Whether `key` (blobs/<sha256>) is in the bucket with content that hashes to its name. */
async function intact(bucket: BucketWriter, key: string): Promise<boolean> {
  const obj = await bucket.get(key);
  if (!obj) return false;
  const sha = createHash('sha256')
    .update(new Uint8Array(await obj.arrayBuffer()))
    .digest('hex');
  return `blobs/${sha}` === key;
}

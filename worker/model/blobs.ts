/** BlobSources: R2 in the Worker, memory in tests (the file-system one for Node is scripts/lib/r2-fs-source.ts). */
import type { BlobSource } from './types.ts';

/** The part of an R2Bucket binding we use: structural, so Node code can typecheck this file too. */
export interface R2Reader {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
}

/** Reads the bucket binding; a missing key is null, an R2 error throws (the loader retries those). */
export function r2BlobSource(bucket: R2Reader): BlobSource {
  return {
    async get(key) {
      const object = await bucket.get(key);
      return object ? new Uint8Array(await object.arrayBuffer()) : null;
    },
  };
}

/** A map of key → bytes; `gets` counts reads per key so tests can assert sharing and retries. */
export function memoryBlobSource(entries: Iterable<[string, Uint8Array]> = []): BlobSource & {
  files: Map<string, Uint8Array>;
  gets: Map<string, number>;
} {
  const files = new Map(entries);
  const gets = new Map<string, number>();
  return {
    files,
    gets,
    async get(key) {
      gets.set(key, (gets.get(key) ?? 0) + 1);
      return files.get(key) ?? null;
    },
  };
}

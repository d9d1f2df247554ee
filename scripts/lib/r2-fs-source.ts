/** A BlobSource over a directory in the R2 layout (model-shards/, a converter's --out dir). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobSource } from '../../worker/model/types.ts';

export function fsBlobSource(root: string): BlobSource {
  return {
    async get(key) {
      try {
        return new Uint8Array(await readFile(path.join(root, ...key.split('/'))));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
  };
}

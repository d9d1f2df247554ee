/**
 * Weight shards: ONNX external-data files, size-capped, 64-byte aligned, content-addressed.
 * Each shard streams to a temp file while its SHA-256 is computed, then is renamed to `<sha256>`; tensors
 * placed in it learn their `location` (`<sha256>.bin`) only then, hence the lazy `location()`.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExternalPlacement } from './onnx-builder.ts';

const ALIGN = 64;

export interface ShardRecord {
  sha256: string;
  bytes: number;
  location: string;
}

interface OpenShard {
  index: number;
  fh: FileHandle;
  hash: Hash;
  bytes: number;
  record?: ShardRecord;
}

export class ShardWriter {
  private current: OpenShard | null = null;
  private readonly done: ShardRecord[] = [];
  private opened = 0;

  /** `dir` receives the finished shards as `<sha256>`; `tag` keeps temp names of parallel writers apart. */
  constructor(
    private readonly dir: string,
    private readonly capBytes: number,
    private readonly tag: string,
    private readonly onShard?: (r: ShardRecord) => void,
  ) {}

  /**
   * Places one tensor's bytes (given as consecutive chunks) and returns where they are. A tensor that
   * would overflow the current shard starts a new one; one bigger than the cap gets a shard of its own.
   */
  async add(chunks: Uint8Array[]): Promise<ExternalPlacement> {
    return this.addStream(
      chunks.reduce((n, c) => n + c.byteLength, 0),
      chunks,
    );
  }

  /** Like `add`, for a tensor produced piece by piece (the fp32 embedding, read in row blocks). */
  async addStream(length: number, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<ExternalPlacement> {
    let s = this.current;
    if (s && s.bytes > 0 && align(s.bytes) + length > this.capBytes) {
      await this.closeCurrent();
      s = null;
    }
    s ??= await this.openShard();
    const pad = align(s.bytes) - s.bytes;
    if (pad) await this.write(s, new Uint8Array(pad));
    const offset = s.bytes;
    for await (const c of chunks) await this.write(s, c);
    if (s.bytes - offset !== length) throw new Error(`shard writer: tensor announced ${length} bytes, produced ${s.bytes - offset}`);
    const shard = s;
    return {
      offset,
      length,
      location: () => {
        if (!shard.record) throw new Error(`shard ${shard.index} is still open; close the writer before encoding the graph`);
        return shard.record.location;
      },
    };
  }

  /** Ends the current shard so the next tensor starts a fresh one (used to give the tied embedding its own). */
  async closeCurrent(): Promise<void> {
    const s = this.current;
    if (!s) return;
    this.current = null;
    await s.fh.close();
    const sha256 = s.hash.digest('hex');
    await rename(this.tempName(s.index), join(this.dir, sha256));
    s.record = { sha256, bytes: s.bytes, location: `${sha256}.bin` };
    this.done.push(s.record);
    this.onShard?.(s.record);
  }

  /** Shards in write order, without duplicates (identical content is one blob). */
  shards(): ShardRecord[] {
    const seen = new Set<string>();
    return this.done.filter((r) => (seen.has(r.sha256) ? false : (seen.add(r.sha256), true)));
  }

  private async openShard(): Promise<OpenShard> {
    const index = this.opened++;
    const fh = await open(this.tempName(index), 'w');
    this.current = { index, fh, hash: createHash('sha256'), bytes: 0 };
    return this.current;
  }

  private async write(s: OpenShard, bytes: Uint8Array): Promise<void> {
    s.hash.update(bytes);
    await s.fh.write(bytes);
    s.bytes += bytes.byteLength;
  }

  private tempName(index: number): string {
    return join(this.dir, `.partial-${this.tag}-${index}`);
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

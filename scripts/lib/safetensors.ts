/**
 * safetensors, read by offset and written as a stream, so a 500 MB checkpoint never sits in memory twice.
 *
 * Format: u64 little-endian header length N, then N bytes of JSON
 *   { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }
 * then the data area; offsets are relative to the start of the data area (byte 8 + N).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { bf16ToFloat, halfToFloat } from './half.ts';

export type SafetensorsErrorCode = 'bad_header' | 'truncated' | 'unsupported_dtype' | 'missing_tensor' | 'io';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    readonly code: SafetensorsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Bytes per element of every dtype the format defines; only F32/F16/BF16 can be read as float32. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16'] as const;
export type FloatDtype = (typeof FLOAT_DTYPES)[number];

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

const MAX_HEADER = 100 * 1024 * 1024;

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Parses and checks the header: every tensor's byte range must match its shape and lie inside the file. */
  static async open(path: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new SafetensorsError('io', `cannot open ${path}: ${(e as Error).message}`);
    }
    try {
      const size = (await fh.stat()).size;
      const where = `${path} (${size} bytes)`;
      if (size < 8) throw new SafetensorsError('truncated', `${where}: shorter than the 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      await fh.read(lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen < 2 || headerLen > MAX_HEADER) {
        throw new SafetensorsError('bad_header', `${where}: header length ${headerLen} is implausible; not a safetensors file?`);
      }
      if (8 + headerLen > size) {
        throw new SafetensorsError('truncated', `${where}: header claims ${headerLen} bytes but the file ends first`);
      }
      const headerBuf = Buffer.alloc(headerLen);
      await fh.read(headerBuf, 0, headerLen, 8);
      let header: unknown;
      try {
        header = JSON.parse(headerBuf.toString('utf8'));
      } catch (e) {
        throw new SafetensorsError('bad_header', `${where}: header is not valid JSON (${(e as Error).message})`);
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) {
        throw new SafetensorsError('bad_header', `${where}: header is not a JSON object`);
      }
      const dataStart = 8 + headerLen;
      const dataSize = size - dataStart;
      const tensors = new Map<string, TensorInfo>();
      let metadata: Record<string, string> = {};
      for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
        if (name === '__metadata__') {
          metadata = (raw ?? {}) as Record<string, string>;
          continue;
        }
        tensors.set(name, checkEntry(where, name, raw, dataStart, dataSize));
      }
      return new SafetensorsFile(path, fh, tensors, metadata);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  get(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError('missing_tensor', `${this.path} has no tensor ${name}`);
    return t;
  }

  /**
   * Reads rows [rowStart, rowStart + rowCount) of a tensor (rows = first dimension) as float32.
   * Reading in row blocks keeps big tensors (the 50257-row embedding) from being loaded at once.
   */
  async readFloat32(name: string, rowStart = 0, rowCount?: number): Promise<Float32Array> {
    const t = this.get(name);
    const bytesPer = DTYPE_BYTES[t.dtype]!;
    if (!(FLOAT_DTYPES as readonly string[]).includes(t.dtype)) {
      throw new SafetensorsError('unsupported_dtype', `${name} has dtype ${t.dtype}; only ${FLOAT_DTYPES.join(', ')} are supported`);
    }
    const rows = t.shape[0] ?? 1;
    const rowElems = t.shape.slice(1).reduce((a, b) => a * b, 1);
    const count = rowCount ?? rows - rowStart;
    if (rowStart < 0 || count < 0 || rowStart + count > rows) {
      throw new RangeError(`${name}: rows [${rowStart}, ${rowStart + count}) outside [0, ${rows})`);
    }
    const n = count * rowElems;
    const buf = Buffer.alloc(n * bytesPer);
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, t.begin + rowStart * rowElems * bytesPer);
    if (bytesRead !== buf.length) throw new SafetensorsError('truncated', `${this.path}: short read of ${name}`);
    return decodeFloats(t.dtype as FloatDtype, buf, n);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function checkEntry(where: string, name: string, raw: unknown, dataStart: number, dataSize: number): TensorInfo {
  const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const bad = (why: string): never => {
    throw new SafetensorsError('bad_header', `${where}: tensor ${name}: ${why}`);
  };
  if (typeof e !== 'object' || e === null) bad('entry is not an object');
  if (typeof e.dtype !== 'string') bad('missing dtype');
  const dtype = e.dtype as string;
  const bytesPer = DTYPE_BYTES[dtype];
  if (bytesPer === undefined) {
    throw new SafetensorsError('unsupported_dtype', `${where}: tensor ${name} has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) bad('shape is not a list of sizes');
  const offs = e.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[0] > offs[1]) {
    bad('data_offsets is not [begin, end]');
  }
  const shape = e.shape as number[];
  const [b, en] = offs as [number, number];
  const want = shape.reduce((x, y) => x * y, 1) * bytesPer;
  if (en - b !== want) bad(`data_offsets span ${en - b} bytes but shape ${JSON.stringify(shape)} of ${dtype} needs ${want}`);
  if (en > dataSize) {
    throw new SafetensorsError(
      'truncated',
      `${where}: tensor ${name} ends at data byte ${en} but the data area has only ${dataSize}; the file is truncated`,
    );
  }
  return { name, dtype, shape, begin: dataStart + b, end: dataStart + en };
}

function decodeFloats(dtype: FloatDtype, buf: Buffer, n: number): Float32Array {
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    // Copy via an aligned view: Buffer.alloc may hand out pooled, unaligned memory.
    new Uint8Array(out.buffer).set(buf.subarray(0, n * 4));
    return out;
  }
  const u16 = new Uint16Array(n);
  new Uint8Array(u16.buffer).set(buf.subarray(0, n * 2));
  const conv = dtype === 'F16' ? halfToFloat : bf16ToFloat;
  for (let i = 0; i < n; i++) out[i] = conv(u16[i]!);
  return out;
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'I8' | 'U8' | 'I64';
  shape: number[];
  /** Yields the tensor's bytes in order (any chunking); the total must match the shape. */
  chunks: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** Writes a safetensors file tensor by tensor; only one chunk is in memory at a time. */
export async function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): Promise<void> {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype]!;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // the spec pads the header to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const fh = await open(path, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(headerBytes.length));
    await fh.write(len);
    await fh.write(headerBytes);
    for (const t of tensors) {
      const want = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype]!;
      let got = 0;
      for await (const chunk of t.chunks()) {
        await fh.write(chunk);
        got += chunk.byteLength;
      }
      if (got !== want) throw new Error(`writeSafetensors: ${t.name} produced ${got} bytes, shape needs ${want}`);
    }
  } finally {
    await fh.close();
  }
}

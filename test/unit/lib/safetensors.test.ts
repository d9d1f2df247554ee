/** safetensors reader/writer and the half/bfloat16 conversions under it. */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from '../../../scripts/lib/half.ts';
import { SafetensorsError, SafetensorsFile, writeSafetensors } from '../../../scripts/lib/safetensors.ts';
import { tempDir } from '../../helpers/synth-fixtures.ts';

const tmp = tempDir('st');
afterAll(() => tmp.cleanup());

describe('half precision', () => {
  it.each([0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8, -0.333251953125])('F16 round-trips %f exactly', (x) => {
    expect(halfToFloat(floatToHalf(x))).toBe(x);
  });

  it('F16 rounds to nearest even and saturates to infinity', () => {
    expect(halfToFloat(floatToHalf(1 + 2 ** -11))).toBe(1); // tie -> even mantissa
    expect(halfToFloat(floatToHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(halfToFloat(floatToHalf(1e6))).toBe(Infinity);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });

  it('BF16 is the top half of a float32', () => {
    expect(bf16ToFloat(0x3f80)).toBe(1);
    expect(bf16ToFloat(floatToBf16(-3.5))).toBe(-3.5);
    expect(bf16ToFloat(floatToBf16(1.00390625))).toBe(1); // tie -> even
  });
});

describe('safetensors', () => {
  const path = join(tmp.dir, 'a.safetensors');
  const a = Float32Array.from({ length: 12 }, (_, i) => i - 5.5);

  it('writes and reads back F32, F16 and BF16 tensors, whole and by rows', async () => {
    const f16 = new Uint16Array(Array.from(a, floatToHalf));
    const bf16 = new Uint16Array(Array.from(a, floatToBf16));
    await writeSafetensors(
      path,
      [
        { name: 'a', dtype: 'F32', shape: [4, 3], chunks: () => [new Uint8Array(a.buffer, 0, 20), new Uint8Array(a.buffer, 20)] },
        { name: 'b', dtype: 'F16', shape: [4, 3], chunks: () => [new Uint8Array(f16.buffer)] },
        { name: 'c', dtype: 'BF16', shape: [12], chunks: () => [new Uint8Array(bf16.buffer)] },
      ],
      { format: 'pt' },
    );
    const headerLen = Number(readFileSync(path).readBigUInt64LE(0));
    expect(headerLen % 8).toBe(0);
    const st = await SafetensorsFile.open(path);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(st.get('a').shape).toEqual([4, 3]);
    for (const name of ['a', 'b', 'c']) expect(Array.from(await st.readFloat32(name))).toEqual(Array.from(a));
    expect(Array.from(await st.readFloat32('a', 1, 2))).toEqual(Array.from(a.subarray(3, 9)));
    await expect(st.readFloat32('nope')).rejects.toMatchObject({ code: 'missing_tensor' });
    await st.close();
  });

  it('refuses a producer that writes the wrong number of bytes', async () => {
    await expect(
      writeSafetensors(join(tmp.dir, 'w.safetensors'), [{ name: 'a', dtype: 'F32', shape: [4], chunks: () => [new Uint8Array(8)] }]),
    ).rejects.toThrow(/produced 8 bytes, shape needs 16/);
  });

  const broken = (bytes: Buffer | string): string => {
    const p = join(tmp.dir, `broken-${Math.random()}.safetensors`);
    writeFileSync(p, bytes);
    return p;
  };
  const header = (json: unknown, data = 0): Buffer => {
    const h = Buffer.from(JSON.stringify(json));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([len, h, Buffer.alloc(data)]);
  };

  it.each([
    ['shorter than 8 bytes', () => broken('abc'), 'truncated'],
    ['implausible header length', () => broken(Buffer.alloc(16, 0xff)), 'bad_header'],
    ['header past the end', () => broken(header({}).subarray(0, 9)), 'truncated'],
    ['header not JSON', () => broken(Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')])), 'bad_header'],
    ['offsets not matching the shape', () => broken(header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4)), 'bad_header'],
    ['data past the end', () => broken(header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4)), 'truncated'],
    ['unknown dtype', () => broken(header({ a: { dtype: 'F12', shape: [2], data_offsets: [0, 8] } }, 8)), 'unsupported_dtype'],
  ])('rejects %s', async (_, make, code) => {
    const err = await SafetensorsFile.open(make()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).code).toBe(code);
  });

  it('reads only float dtypes as float32', async () => {
    const p = broken(header({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8));
    const st = await SafetensorsFile.open(p);
    await expect(st.readFloat32('a')).rejects.toMatchObject({ code: 'unsupported_dtype' });
    await st.close();
  });
});

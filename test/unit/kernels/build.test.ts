import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble, baselineWat, check, WAT_PATH } from '../../../scripts/kernels/build.ts';

describe('scripts/kernels/build.ts', () => {
  it('the committed gpt2-kernels.wasm is a fresh build of gpt2-kernels.wat (else: npx tsx scripts/kernels/build.ts)', async () => {
    const result = await check();
    expect(result.message).toMatch(/up to date/);
    expect(result.upToDate).toBe(true);
  });

  it('a changed kernel changes the bytes (so --check can fail) and builds are reproducible', async () => {
    const wat = readFileSync(WAT_PATH, 'utf8');
    const a = await assemble(wat);
    expect(Array.from(await assemble(wat))).toEqual(Array.from(a));
    const edited = wat.replace('(f32.const 127)', '(f32.const 126)');
    expect(edited).not.toBe(wat);
    expect(Array.from(await assemble(edited))).not.toEqual(Array.from(a));
  });

  it('the baseline build has no relaxed SIMD: the assembler refuses it there, and the source keeps none', async () => {
    const relaxed = '(module (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))))';
    await expect(assemble(relaxed, false)).rejects.toThrow();
    const base = baselineWat(readFileSync(WAT_PATH, 'utf8'));
    expect(base).not.toMatch(/relaxed_/);
    expect(base).toMatch(/call \$dot_i8_u7_add/);
    await expect(assemble(base, false)).resolves.toBeInstanceOf(Uint8Array);
  });
});

/**
 * Assembles worker/kernels/gpt2-kernels.wat into two committed modules (Workers cannot compile WASM from
 * bytes at runtime, so the Worker imports a built module):
 *   gpt2-kernels.wasm           as written: baseline SIMD plus relaxed SIMD's i8×i7 dot product (workerd,
 *                               Node ≥ 22, every current browser)
 *   gpt2-kernels-baseline.wasm  the same kernels with each `i32x4.relaxed_dot_i8x16_i7x16_add_s` replaced by
 *                               a call to a baseline-SIMD function computing the same sums (int16 widening
 *                               + i32x4.dot_i16x8_s), for engines without relaxed SIMD (Node 20's V8 11.3
 *                               has it only behind a flag, and computes the add form wrongly there)
 * The two give bit-identical results: the lanes group the 16 products differently, but every consumer adds
 * the four lanes (exact int32 sums, no overflow: see the .wat), so the totals are the same integers.
 *   npx tsx scripts/kernels/build.ts           write both .wasm files
 *   npx tsx scripts/kernels/build.ts --check   exit 1 if a committed .wasm differs from a fresh build
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';

export const WAT_PATH = fileURLToPath(new URL('../../worker/kernels/gpt2-kernels.wat', import.meta.url));
export const WASM_PATH = fileURLToPath(new URL('../../worker/kernels/gpt2-kernels.wasm', import.meta.url));
export const BASELINE_WASM_PATH = fileURLToPath(new URL('../../worker/kernels/gpt2-kernels-baseline.wasm', import.meta.url));

const RELAXED_DOT = 'i32x4.relaxed_dot_i8x16_i7x16_add_s';
/** Σ of the same 16 products as RELAXED_DOT (a signed, b in [0, 127]), grouped by pairs instead of fours. */
const BASELINE_DOT = `
  (func $dot_i8_u7_add (param $a v128) (param $b v128) (param $c v128) (result v128)
    (i32x4.add (local.get $c)
      (i32x4.add
        (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $a)) (i16x8.extend_low_i8x16_u (local.get $b)))
        (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $a)) (i16x8.extend_high_i8x16_u (local.get $b))))))
)`;

/** The baseline-SIMD source: every relaxed dot becomes a call to $dot_i8_u7_add, appended to the module. */
export function baselineWat(watSource: string): string {
  const body = watSource.trimEnd();
  if (!body.endsWith(')')) throw new Error("gpt2-kernels.wat must end with the module's closing parenthesis");
  return body.slice(0, -1).replaceAll(RELAXED_DOT, 'call $dot_i8_u7_add') + BASELINE_DOT + '\n';
}

/**
 * The .wasm bytes for the given WAT source: baseline SIMD, plus relaxed SIMD when `relaxed` (nothing else:
 * no threads, no other proposals). No debug names, so builds are reproducible.
 */
export async function assemble(watSource: string, relaxed = true): Promise<Uint8Array> {
  const api = await wabt();
  const mod = api.parseWat('gpt2-kernels.wat', watSource, { simd: true, sat_float_to_int: true, relaxed_simd: relaxed });
  try {
    mod.validate();
    return mod.toBinary({ canonicalize_lebs: true, write_debug_names: false }).buffer;
  } finally {
    mod.destroy();
  }
}

/** Both builds of a WAT source: [path, bytes] for gpt2-kernels.wasm and gpt2-kernels-baseline.wasm. */
export async function builds(watSource: string): Promise<[string, Uint8Array][]> {
  return [
    [WASM_PATH, await assemble(watSource)],
    [BASELINE_WASM_PATH, await assemble(baselineWat(watSource), false)],
  ];
}

export interface CheckResult {
  upToDate: boolean;
  message: string;
}

/** Compares the committed .wasm files with fresh builds of the committed .wat. */
export async function check(): Promise<CheckResult> {
  for (const [path, fresh] of await builds(readFileSync(WAT_PATH, 'utf8'))) {
    const name = path.split('/').at(-1);
    if (!existsSync(path)) return { upToDate: false, message: `${name} is missing: run npx tsx scripts/kernels/build.ts` };
    const committed = new Uint8Array(readFileSync(path));
    const same = committed.byteLength === fresh.byteLength && committed.every((b, i) => b === fresh[i]);
    if (!same)
      return { upToDate: false, message: `${name} is stale: the .wat changed without a rebuild; run npx tsx scripts/kernels/build.ts` };
  }
  return { upToDate: true, message: 'gpt2-kernels.wasm and gpt2-kernels-baseline.wasm are up to date' };
}

async function main(): Promise<void> {
  if (process.argv.includes('--check')) {
    const result = await check();
    console.log(result.message);
    process.exit(result.upToDate ? 0 : 1);
  }
  for (const [path, bytes] of await builds(readFileSync(WAT_PATH, 'utf8'))) {
    writeFileSync(path, bytes);
    console.log(`wrote ${path} (${bytes.byteLength} bytes)`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

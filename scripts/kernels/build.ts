/**
 * Assembles worker/kernels/gpt2-kernels.wat into gpt2-kernels.wasm (committed: Workers cannot compile
 * WASM from bytes at runtime, so the Worker imports the built module).
 *   npx tsx scripts/kernels/build.ts           write the .wasm
 *   npx tsx scripts/kernels/build.ts --check   exit 1 if the committed .wasm differs from a fresh build
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';

export const WAT_PATH = fileURLToPath(new URL('../../worker/kernels/gpt2-kernels.wat', import.meta.url));
export const WASM_PATH = fileURLToPath(new URL('../../worker/kernels/gpt2-kernels.wasm', import.meta.url));

/** The .wasm bytes for the given WAT source. Baseline SIMD only; no debug names, so builds are reproducible. */
export async function assemble(watSource: string): Promise<Uint8Array> {
  const api = await wabt();
  const mod = api.parseWat('gpt2-kernels.wat', watSource, { simd: true, sat_float_to_int: true });
  try {
    mod.validate();
    return mod.toBinary({ canonicalize_lebs: true, write_debug_names: false }).buffer;
  } finally {
    mod.destroy();
  }
}

export interface CheckResult {
  upToDate: boolean;
  message: string;
}

/** Compares the committed .wasm with a fresh build of the committed .wat. */
export async function check(): Promise<CheckResult> {
  const fresh = await assemble(readFileSync(WAT_PATH, 'utf8'));
  if (!existsSync(WASM_PATH)) return { upToDate: false, message: `${WASM_PATH} is missing: run npx tsx scripts/kernels/build.ts` };
  const committed = new Uint8Array(readFileSync(WASM_PATH));
  const same = committed.byteLength === fresh.byteLength && committed.every((b, i) => b === fresh[i]);
  return same
    ? { upToDate: true, message: `gpt2-kernels.wasm is up to date (${fresh.byteLength} bytes)` }
    : { upToDate: false, message: 'gpt2-kernels.wasm is stale: the .wat changed without a rebuild; run npx tsx scripts/kernels/build.ts' };
}

async function main(): Promise<void> {
  if (process.argv.includes('--check')) {
    const result = await check();
    console.log(result.message);
    process.exit(result.upToDate ? 0 : 1);
  }
  const bytes = await assemble(readFileSync(WAT_PATH, 'utf8'));
  writeFileSync(WASM_PATH, bytes);
  console.log(`wrote ${WASM_PATH} (${bytes.byteLength} bytes)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

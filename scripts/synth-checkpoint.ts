/**
 * `npm run synth -- --out dir [--preset gpt2|distilgpt2|gpt2-medium|gpt2-large|gpt2-xl] [--n-layer L --n-head H --n-embd E
 *   --n-positions P --vocab V --n-inner I] [--seed S] [--no-prefix] [--dtype f32|f16|bf16] [--init-std X]`
 *
 * Writes a GPT-2 checkpoint in Hugging Face layout with deterministic pseudo-random weights.
 */
import { parseArgs } from 'node:util';
import { PRESETS, parameterCount, type Gpt2Dims } from './lib/gpt2-names.ts';
import { writeSyntheticCheckpoint } from './lib/synth-gpt2.ts';

const OPTIONS = {
  out: { type: 'string' },
  preset: { type: 'string' },
  'n-layer': { type: 'string' },
  'n-head': { type: 'string' },
  'n-embd': { type: 'string' },
  'n-positions': { type: 'string' },
  vocab: { type: 'string' },
  'n-inner': { type: 'string' },
  seed: { type: 'string', default: '1' },
  'no-prefix': { type: 'boolean', default: false },
  dtype: { type: 'string', default: 'f32' },
  'init-std': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

const USAGE =
  'usage: npm run synth -- --out dir [--preset name] [--n-layer L --n-head H --n-embd E --n-positions P --vocab V --n-inner I] ' +
  `[--seed S] [--no-prefix] [--dtype f32|f16|bf16] [--init-std X]\npresets: ${Object.keys(PRESETS).join(', ')}`;

function main(): void {
  const fail = (msg: string): never => {
    console.error(`synth: ${msg}\n${USAGE}`);
    process.exit(2);
  };
  let values;
  try {
    ({ values } = parseArgs({ options: OPTIONS }));
  } catch (err) {
    return fail((err as Error).message);
  }
  if (values.help) return void console.log(USAGE);
  if (!values.out) fail('--out <dir> is required');
  const base: Gpt2Dims = values.preset
    ? (PRESETS[values.preset] ?? fail(`unknown preset ${values.preset}; one of ${Object.keys(PRESETS).join(', ')}`))
    : { n_layer: 2, n_head: 2, n_embd: 64, n_positions: 256, vocab_size: 50257 };
  const int = (v: string | undefined, d: number, name: string): number => {
    if (v === undefined) return d;
    const n = Number(v);
    return Number.isInteger(n) && n > 0 ? n : fail(`${name} must be a positive integer, got ${v}`);
  };
  const dims: Gpt2Dims = {
    n_layer: int(values['n-layer'], base.n_layer, '--n-layer'),
    n_head: int(values['n-head'], base.n_head, '--n-head'),
    n_embd: int(values['n-embd'], base.n_embd, '--n-embd'),
    n_positions: int(values['n-positions'], base.n_positions, '--n-positions'),
    vocab_size: int(values.vocab, base.vocab_size, '--vocab'),
    ...(values['n-inner'] === undefined ? {} : { n_inner: int(values['n-inner'], 0, '--n-inner') }), // default 4 x n_embd
  };
  if (!['f32', 'f16', 'bf16'].includes(values.dtype!)) fail('--dtype must be f32, f16 or bf16');
  const t0 = Date.now();
  console.log(`synth: ${JSON.stringify(dims)}, ${(parameterCount(dims) / 1e6).toFixed(2)} M params -> ${values.out}`);
  writeSyntheticCheckpoint({
    ...dims,
    out: values.out!,
    seed: int(values.seed, 1, '--seed'),
    prefix: !values['no-prefix'],
    dtype: values.dtype as 'f32' | 'f16' | 'bf16',
    ...(values['init-std'] ? { initStd: Number(values['init-std']) } : {}),
    onProgress: (m) => console.log(m),
  }).then(
    () => console.log(`synth: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`),
    (e: unknown) => fail((e as Error).message),
  );
}

main();

/**
 * Bad inputs: every one fails with its code and a message that names the problem, the CLI exits non-zero,
 * and no manifest (nor a temp dir) is left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConvertError, type ConvertErrorCode, type ConvertOptions } from '../../../scripts/convert/index.ts';
import { SafetensorsFile, writeSafetensors } from '../../../scripts/lib/safetensors.ts';
import { convertQuiet, synth, tempDir } from '../../helpers/synth-fixtures.ts';

const tmp = tempDir('errors');
let good: string;
let n = 0;

beforeAll(async () => {
  good = await synth(join(tmp.dir, 'good'), { n_layer: 2 });
}, 60_000);
afterAll(() => tmp.cleanup());

/** A fresh copy of the good checkpoint to break. */
function copy(): string {
  const dir = join(tmp.dir, `bad${n++}`);
  cpSync(good, dir, { recursive: true });
  return dir;
}

/** Rewrites model.safetensors with `edit` applied to its (name, shape, data) list. */
async function rewrite(dir: string, edit: (t: { name: string; shape: number[]; data: Float32Array }[]) => typeof t): Promise<void> {
  const path = join(dir, 'model.safetensors');
  const st = await SafetensorsFile.open(path);
  const tensors = [];
  for (const [name, info] of st.tensors) tensors.push({ name, shape: info.shape, data: await st.readFloat32(name) });
  await st.close();
  await writeSafetensors(
    path,
    edit(tensors).map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, chunks: () => [new Uint8Array(t.data.buffer)] })),
  );
}

/** Replaces text in the safetensors header (same length, so offsets stay valid). */
function patchHeader(dir: string, from: string, to: string): void {
  const path = join(dir, 'model.safetensors');
  const buf = readFileSync(path);
  const at = buf.indexOf(from);
  expect(at).toBeGreaterThan(0);
  buf.write(to, at, 'latin1');
  writeFileSync(path, buf);
}

async function expectFailure(dir: string, code: ConvertErrorCode, message: RegExp, extra: Partial<ConvertOptions> = {}): Promise<void> {
  const out = join(tmp.dir, `out${n++}`);
  const err = await convertQuiet({ input: dir, out, id: 'x', quant: 'int8', ...extra }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConvertError);
  expect((err as ConvertError).code).toBe(code);
  expect((err as ConvertError).message).toMatch(message);
  expect(existsSync(join(out, 'models', 'x', 'manifest.json'))).toBe(false);
  expect(readdirSync(tmp.dir).filter((f) => f.includes('.partial-'))).toEqual([]);
}

describe('converter rejects bad checkpoints', () => {
  it('missing tensor: names it and hints at the layout', async () => {
    const dir = copy();
    await rewrite(dir, (ts) => ts.filter((t) => t.name !== 'transformer.h.1.mlp.c_fc.weight'));
    await expectFailure(
      dir,
      'missing_tensor',
      /missing transformer\.h\.1\.mlp\.c_fc\.weight — is this a GPT-2 checkpoint.*found names like transformer\.wte\.weight/,
    );
  });

  it('wrong shape (a Linear [out, in] instead of Conv1D [in, out])', async () => {
    const dir = copy();
    await rewrite(dir, (ts) => ts.map((t) => (t.name === 'transformer.h.0.mlp.c_fc.weight' ? { ...t, shape: [192, 48] } : t)));
    await expectFailure(dir, 'bad_shape', /h\.0\.mlp\.c_fc\.weight has shape \[192, 48\], expected \[48, 192\]/);
  });

  it('unknown dtype', async () => {
    const dir = copy();
    patchHeader(dir, '"dtype":"F32"', '"dtype":"X32"');
    await expectFailure(dir, 'unsupported_dtype', /unknown dtype "X32"/);
  });

  it('a known but unsupported dtype (I32)', async () => {
    const dir = copy();
    patchHeader(dir, '"dtype":"F32"', '"dtype":"I32"');
    await expectFailure(dir, 'unsupported_dtype', /dtype I32; supported: F32, F16, BF16/);
  });

  it('truncated safetensors', async () => {
    const dir = copy();
    const path = join(dir, 'model.safetensors');
    truncateSync(path, Math.floor(readFileSync(path).length * 0.8));
    await expectFailure(dir, 'truncated', /truncated/);
  });

  it('garbage instead of safetensors', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'model.safetensors'), 'this is not a safetensors file at all');
    await expectFailure(dir, 'bad_safetensors', /header length .* implausible/);
  });

  it('missing tokenizer', async () => {
    const dir = copy();
    rmSync(join(dir, 'tokenizer.json'));
    await expectFailure(dir, 'missing_tokenizer', /need tokenizer\.json, or vocab\.json \+ merges\.txt/);
  });

  it.each([
    ['n_embd not divisible by n_head', { n_head: 5 }, /not divisible by n_head 5/],
    ['missing n_layer', { n_layer: undefined }, /n_layer must be a non-negative integer/],
    ['another architecture', { model_type: 'llama' }, /model_type is "llama"/],
    ['an MLP width that is not an integer', { n_inner: 1.5 }, /n_inner must be a non-negative integer, got 1\.5/],
    ['an MLP width of 0', { n_inner: 0 }, /n_inner must be positive/],
    ['per-layer attention scaling', { scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx=true is not supported/],
  ])('bad config: %s', async (_, patch, message) => {
    const dir = copy();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, ...patch }));
    await expectFailure(dir, 'bad_config', message);
  });

  it('config.json that is not JSON', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'config.json'), '{"n_layer": 2,');
    await expectFailure(dir, 'bad_config', /not valid JSON/);
  });

  it('an lm_head that is not tied to wte', async () => {
    const dir = copy();
    await rewrite(dir, (ts) => [...ts, { name: 'lm_head.weight', shape: ts[0]!.shape, data: ts[0]!.data.map((x) => x * 2) }]);
    await expectFailure(dir, 'untied_lm_head', /lm_head\.weight differs from wte\.weight/);
  });

  it('more stages than layers', async () => {
    await expectFailure(copy(), 'bad_args', /--stages must be an integer in \[1, n_layer=2\]/, { stages: 3 });
  });
});

describe('accepted variations', () => {
  it('a tied lm_head.weight and old attn.bias buffers are accepted with notes', async () => {
    const dir = copy();
    await rewrite(dir, (ts) => [
      ...ts,
      { name: 'lm_head.weight', shape: ts[0]!.shape, data: ts[0]!.data },
      { name: 'transformer.h.0.attn.bias', shape: [1, 1, 4, 4], data: new Float32Array(16) },
    ]);
    const r = await convertQuiet({ input: dir, out: join(tmp.dir, 'ok-out'), id: 'ok', quant: 'fp32' });
    expect(r.notes.join('\n')).toMatch(/lm_head\.weight present.*stored once/);
    expect(r.notes.join('\n')).toMatch(/ignored 1 non-weight tensor\(s\): transformer\.h\.0\.attn\.bias/);
  });
});

describe('converter rejects --attention host where it cannot apply', () => {
  it('q4, several stages or an fp16 cache need the in-graph layout', async () => {
    for (const extra of [{ quant: 'q4' as const }, { stages: 2 }, { kv: 'float16' as const }]) {
      await expectFailure(good, 'bad_args', /--attention host supports int8 and fp32 weights, one stage and a float32 KV cache/, {
        ...extra,
        attention: 'host',
      });
    }
  });
  it('a width the kernels cannot take (n_embd not a multiple of 16)', async () => {
    const dir = await synth(join(tmp.dir, 'narrow'), { n_layer: 1, n_head: 2, n_embd: 40 });
    await expectFailure(dir, 'bad_args', /multiple of 16.*got 40; use --attention graph/, { attention: 'host' });
    // …while the default falls back to the in-graph layout, which converts it
    const { manifest } = await convertQuiet({ input: dir, out: join(tmp.dir, 'narrow-out'), id: 'narrow', quant: 'int8' });
    expect(manifest.layout).toBe('graph');
  });
});

describe('manifest card', () => {
  it('merges --card facts with the conversion notes', async () => {
    const { manifest } = await convertQuiet({
      input: good,
      out: join(tmp.dir, 'card-out'),
      id: 'card',
      quant: 'fp32',
      card: { description: 'test model', training: { steps: 3 } },
    });
    expect(manifest.card).toMatchObject({ description: 'test model', training: { steps: 3 }, source_dtype: 'F32' });
    const onDisk = JSON.parse(readFileSync(join(tmp.dir, 'card-out', 'models', 'card', 'manifest.json'), 'utf8')) as { card: unknown };
    expect(onDisk.card).toEqual(manifest.card);
  });
});

describe('CLI exit codes', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/convert/cli.ts', ...args], { encoding: 'utf8' });

  it('exits 1 with the error code and message on a bad checkpoint, and writes no manifest', () => {
    const dir = copy();
    rmSync(join(dir, 'tokenizer.json'));
    const out = join(tmp.dir, 'cli-out');
    const r = cli([dir, '--out', out, '--id', 'c']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error \[missing_tokenizer\]/);
    expect(existsSync(join(out, 'models', 'c', 'manifest.json'))).toBe(false);
  });

  it('exits 2 on bad arguments', () => {
    const r = cli([good, '--quant', 'int3']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--quant must be int8, q4 or fp32/);
  });
});

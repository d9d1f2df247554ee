/** Synthetic checkpoints: deterministic, HF-shaped, with a tokenizer that encodes any text. */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { PRESETS, gpt2Tensors, parameterCount } from '../../../scripts/lib/gpt2-names.ts';
import { SafetensorsFile } from '../../../scripts/lib/safetensors.ts';
import { byteLevelTokenizer } from '../../../scripts/lib/synth-gpt2.ts';
import { ODD, synth, tempDir } from '../../helpers/synth-fixtures.ts';

const tmp = tempDir('synth');
afterAll(() => tmp.cleanup());

describe('synthetic checkpoints', () => {
  it('the same seed gives the same bytes, another seed other weights', async () => {
    const a = await synth(join(tmp.dir, 'a'), { seed: 5 });
    const b = await synth(join(tmp.dir, 'b'), { seed: 5 });
    const c = await synth(join(tmp.dir, 'c'), { seed: 6 });
    const bytes = (d: string) => readFileSync(join(d, 'model.safetensors'));
    expect(bytes(a).equals(bytes(b))).toBe(true);
    expect(bytes(a).equals(bytes(c))).toBe(false);
  });

  it('has every GPT-2 tensor with HF names and Conv1D shapes, and an HF config', async () => {
    const dir = await synth(join(tmp.dir, 'd'), { prefix: false });
    const st = await SafetensorsFile.open(join(dir, 'model.safetensors'));
    expect([...st.tensors.keys()].sort()).toEqual(
      gpt2Tensors(ODD)
        .map((t) => t.name)
        .sort(),
    );
    expect(st.get('h.2.mlp.c_fc.weight').shape).toEqual([48, 192]);
    const w = await st.readFloat32('h.0.attn.c_attn.weight');
    const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
    expect(std).toBeGreaterThan(0.015); // GPT-2's init scale, 0.02
    expect(std).toBeLessThan(0.025);
    await st.close();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      model_type: 'gpt2',
      n_layer: 3,
      n_head: 3,
      n_embd: 48,
      vocab_size: 300,
      eos_token_id: 299,
      activation_function: 'gelu_new',
    });
  });

  it('presets have the published parameter counts (tied embedding once)', () => {
    expect(parameterCount(PRESETS.gpt2!)).toBe(124_439_808);
    expect(parameterCount(PRESETS.distilgpt2!)).toBe(81_912_576);
    expect(parameterCount(PRESETS['gpt2-medium']!)).toBe(354_823_168);
  });

  it('small-vocab tokenizer: GPT-2 byte ids, <|endoftext|> last, round-trips any text', () => {
    const tok = new Tokenizer(byteLevelTokenizer(300) as never, {} as never);
    const ids = tok.encode('Hi there<|endoftext|>é').ids;
    // 'H' = 39, 'i' = 72 and ' ' (Ġ) = 220 as in GPT-2's vocab; é is two bytes.
    expect(ids).toEqual([39, 72, 220, 83, 71, 68, 81, 68, 299, 127, 102]);
    expect(tok.decode(ids)).toBe('Hi there<|endoftext|>é');
  });
});

/**
 * n_inner: a GPT-2 whose MLP is not 4 x n_embd wide (GPT2Config allows it) converts in both layouts and
 * its fp32 output equals the TypeScript reference; a config.json whose n_inner disagrees with the MLP
 * tensors is refused, naming the width the tensors have.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConvertError } from '../../../scripts/convert/errors.ts';
import { fsBlobSource } from '../../../scripts/lib/r2-fs-source.ts';
import type { CausalLM } from '../../../worker/generation/types.ts';
import { loadModel } from '../../../worker/model/load-model.ts';
import { nodeOrt } from '../../../worker/model/ort-node.ts';
import type { Manifest } from '../../../worker/model/manifest.ts';
import { Gpt2Reference } from '../../helpers/gpt2-reference.ts';
import { convertQuiet, maxAbsDiff, ODD, synth, tempDir } from '../../helpers/synth-fixtures.ts';

const TOL = 1e-4; // as the other synthetic fp32 tests
const PROMPT = [5, 17, 200, 3, 99, 256, 42];
const INNER = 80; // 48-wide model: 4 x n_embd would be 192
const tmp = tempDir('inner');
const ck = join(tmp.dir, 'ck');
const out = join(tmp.dir, 'out');
let ref: Gpt2Reference;
const models = new Map<string, { manifest: Manifest; lm: CausalLM }>();

beforeAll(async () => {
  await synth(ck, { n_inner: INNER });
  ref = await Gpt2Reference.load(ck);
  for (const attention of ['host', 'graph'] as const) {
    await convertQuiet({ input: ck, out, id: attention, quant: 'fp32', attention });
    models.set(attention, await loadModel(fsBlobSource(out), attention, { runtime: nodeOrt(), log: () => {} }));
  }
}, 120_000);
afterAll(() => tmp.cleanup());

describe('a checkpoint with n_inner != 4 x n_embd', () => {
  it('has MLP tensors of that width, and the manifest says so', () => {
    const cfg = JSON.parse(readFileSync(join(ck, 'config.json'), 'utf8')) as { n_inner: number };
    expect(cfg.n_inner).toBe(INNER);
    const { manifest } = models.get('host')!;
    expect(manifest.config.n_inner).toBe(INNER);
    const E = ODD.n_embd;
    const perLayer = 4 * E + 3 * E * E + 3 * E + E * E + E + 2 * E * INNER + INNER + E;
    expect(manifest.config.parameters).toBe(ODD.vocab_size * E + ODD.n_positions * E + ODD.n_layer * perLayer + 2 * E);
  });

  it.each(['host', 'graph'])('converts (%s attention) to the reference logits and hidden states, prefill and decode', async (id) => {
    const { lm, manifest } = models.get(id)!;
    expect(manifest.layout).toBe(id === 'host' ? 'host-attention' : 'graph');
    const r = ref.forward(PROMPT);
    const o = await lm.forward({ inputIds: [PROMPT], cache: null, logitsFor: 'all', hidden: true });
    expect(maxAbsDiff(o.logits, r.logits)).toBeLessThan(TOL);
    expect(maxAbsDiff(o.hidden!, r.hidden)).toBeLessThan(TOL);
    const r2 = ref.forward([7], r.cache);
    const o2 = await lm.forward({ inputIds: [[7]], cache: o.cache, logitsFor: 'last' });
    expect(maxAbsDiff(o2.logits, r2.logits)).toBeLessThan(TOL);
    lm.release(o2.cache);
  });
});

describe('an n_inner that disagrees with the MLP tensors', () => {
  const withConfig = (patch: Record<string, unknown>) => {
    const cfg = JSON.parse(readFileSync(join(ck, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(ck, 'config.json'), JSON.stringify({ ...cfg, ...patch }));
  };
  const refused = async (patch: Record<string, unknown>, message: RegExp) => {
    const saved = readFileSync(join(ck, 'config.json'));
    try {
      withConfig(patch);
      const err = await convertQuiet({ input: ck, out: join(tmp.dir, 'bad'), id: 'bad', quant: 'fp32' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConvertError);
      expect((err as ConvertError).code).toBe('bad_shape');
      expect((err as ConvertError).message).toMatch(message);
    } finally {
      writeFileSync(join(ck, 'config.json'), saved);
    }
  };

  it('is refused with the width the tensors have (n_inner given)', async () => {
    await refused(
      { n_inner: 64 },
      /h\.0\.mlp\.c_fc\.weight has shape \[48, 80\], expected \[48, 64\]: config\.json's n_inner is 64; if the weights are right, set "n_inner": 80 in config\.json/,
    );
  });

  it('is refused with the width the tensors have (n_inner null, i.e. 4 x n_embd)', async () => {
    await refused(
      { n_inner: null },
      /expected \[48, 192\]: config\.json's n_inner is null, i\.e\. 4 x n_embd = 192; if the weights are right, set "n_inner": 80/,
    );
  });
});

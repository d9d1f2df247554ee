/**
 * Splitting a model into stage isolates (scripts/stages): the size estimate equals a real conversion, the
 * plan keeps every isolate under 128 MiB for GPT-2 small … XL, and the written configs wire the gateway to
 * every stage script.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { PRESETS } from '../../../scripts/lib/gpt2-names.ts';
import { stageConfigs } from '../../../scripts/stages/configs.ts';
import { gatewayEndsBytes, PlanError, planStages } from '../../../scripts/stages/plan.ts';
import { estimatedManifest } from '../../../scripts/stages/shapes.ts';
import { ISOLATE_LIMIT_BYTES } from '../../../worker/stage/budget.ts';
import { convertQuiet, synth, tempDir } from '../../helpers/synth-fixtures.ts';

describe('planStages', () => {
  it('estimates the blob sizes of a real int8 host-attention conversion exactly', async () => {
    const tmp = tempDir('plan');
    try {
      const dims = { n_layer: 3, n_head: 4, n_embd: 64, n_positions: 128, vocab_size: 300 };
      const ck = await synth(join(tmp.dir, 'ck'), dims);
      const { manifest } = await convertQuiet({ input: ck, out: join(tmp.dir, 'out'), id: 'x', quant: 'int8' });
      const est = estimatedManifest(dims, 'x');
      const real = manifest.stages[0]!;
      const bytes = (st: typeof real, j: number) =>
        st.segments![j]!.shards.reduce((n, loc) => n + st.shards.find((s) => s.location === loc)!.bytes, 0);
      for (let j = 0; j <= dims.n_layer; j++) expect([j, bytes(est.stages[0]!, j)]).toEqual([j, bytes(real, j)]);
      // Same kind of segments as the converter's default (kernel segments: no ORT heap to budget).
      const kinds = (st: typeof real) => st.segments!.map((seg) => (seg.kernel ? 'kernel' : 'graph'));
      expect(kinds(est.stages[0]!)).toEqual(kinds(real));
      expect(est.version).toBe(manifest.version);
      expect(est.host!.wte.bytes + est.host!.wte_scale!.bytes + est.host!.wpe.bytes).toBe(
        manifest.host!.wte.bytes + manifest.host!.wte_scale!.bytes + manifest.host!.wpe.bytes,
      );
    } finally {
      tmp.cleanup();
    }
  });

  it.each(
    ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl'].flatMap((p) => [
      [p, 'gateway'],
      [p, 'stage'],
    ]),
  )('%s int8, ends in the %s: every isolate fits 128 MiB with 1 sequence of 1024 tokens; layers covered once', (preset, ends) => {
    const m = estimatedManifest(PRESETS[preset]!, preset);
    const plan = planStages(m, { resident: 1, context: 1024, ends: ends as 'gateway' | 'stage' });
    expect(plan.filter((s) => s.ends)).toHaveLength(ends === 'stage' ? 1 : 0);
    if (ends === 'stage') expect(plan[0]!.ends).toBe(true);
    else expect(gatewayEndsBytes(m)).toBeLessThanOrEqual(ISOLATE_LIMIT_BYTES);
    let at = 0;
    for (const s of plan) {
      expect(s.plannedBytes).toBeLessThanOrEqual(ISOLATE_LIMIT_BYTES);
      if (!s.layers) continue;
      expect(s.layers[0]).toBe(at);
      at = s.layers[1];
    }
    expect(at).toBe(m.config.n_layer);
  });

  it('puts the ends in the gateway by default where they fit with room to spare, and refuses them there where they do not', () => {
    for (const p of ['gpt2', 'gpt2-medium', 'gpt2-large'])
      expect(planStages(estimatedManifest(PRESETS[p]!, p), { resident: 1, context: 1024 }).some((s) => s.ends)).toBe(false);
    // XL's ends (80 MB wte) fit the gateway (117 MiB planned) but not with a fifth to spare: stage 0 by default.
    expect(planStages(estimatedManifest(PRESETS['gpt2-xl']!, 'xl'), { resident: 1, context: 1024 })[0]!.ends).toBe(true);
    // A 96 MiB isolate: GPT-2 small's ends (38.6 MB wte) + the gateway's JS fit; XL's (80 MB) do not.
    const xl = estimatedManifest(PRESETS['gpt2-xl']!, 'xl');
    expect(() => planStages(xl, { resident: 1, context: 256, ends: 'gateway', limitBytes: 96 * 2 ** 20 })).toThrow(/--ends stage/);
    expect(planStages(xl, { resident: 1, context: 256, limitBytes: 96 * 2 ** 20 })[0]!.ends).toBe(true);
  });

  it('refuses --stages counts whose stages would not fit, and a layer too big for any isolate', () => {
    const m = estimatedManifest(PRESETS['gpt2-xl']!, 'xl');
    expect(() => planStages(m, { stages: 4, resident: 1, context: 1024 })).toThrow(PlanError);
    expect(() => planStages(m, { resident: 16, context: 1024 })).toThrow(/one layer with 16 × 1024 tokens of KV does not fit/);
  });

  it('writes a gateway config binding STAGE_0..N-1 to the stage scripts, and one config per stage, each chained to the next', () => {
    const m = estimatedManifest(PRESETS.gpt2!, 'gpt2');
    const plan = planStages(m, { resident: 2, context: 1024 });
    const files = stageConfigs({ root: process.cwd(), outDir: join(process.cwd(), 'staged', 'gpt2'), id: 'gpt2' }, plan);
    expect(files.size).toBe(plan.length + 1);
    const gw = files.get('gateway.toml')!;
    expect(gw).toContain('main = "../../worker/index.ts"');
    expect(gw).toContain('STAGED_MODEL = "gpt2"');
    expect(gw).toContain('STAGE_HOPS = "chain"');
    plan.forEach((s, k) => {
      expect(gw).toContain(`name = "STAGE_${k}"\nclass_name = "Stage"\nscript_name = "edge-gpt2-gpt2-stage${k}"`);
      const st = files.get(`stage${k}.toml`)!;
      expect(st).toContain(`name = "edge-gpt2-gpt2-stage${k}"`);
      expect(st).toContain(`STAGE_LAYERS = "${s.layers ? `${s.layers[0]}..${s.layers[1]}` : 'none'}"`);
      expect(st).toContain('new_sqlite_classes = ["Stage"]');
      const next = `name = "NEXT_STAGE"\nclass_name = "Stage"\nscript_name = "edge-gpt2-gpt2-stage${k + 1}"`;
      if (k + 1 < plan.length) expect(st).toContain(next);
      else expect(st).not.toContain('NEXT_STAGE');
    });
  });
});

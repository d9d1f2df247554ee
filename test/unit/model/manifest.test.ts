/**
 * parseManifest's rules for the two layouts: the shipped host-attention manifest (version 3: kernel
 * segments) parses and every inconsistency between `layout`, `version`, `host`, the stages' graph/segments
 * and a segment's graph/kernel is refused with a message; a version-1 graph manifest still parses.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { graphOf, manifestBlobs, parseManifest, stageGraphs } from '../../../worker/model/manifest.ts';
import { buildMatMulModelFiles } from './fixtures/model-files.ts';

const shipped = JSON.parse(readFileSync('model-shards/models/edge-gpt2-brown/manifest.json', 'utf8')) as Record<string, unknown> & {
  stages: Record<string, unknown>[];
};
const edit = (f: (m: typeof shipped) => void) => {
  const m = structuredClone(shipped);
  f(m);
  return () => parseManifest(m);
};

describe('manifest layouts', () => {
  it('reads the shipped host-attention manifest: kernel segments, host tensors, every blob listed', () => {
    const m = parseManifest(shipped);
    expect([m.version, m.layout]).toEqual([3, 'host-attention']);
    const segments = m.stages[0]!.segments!;
    expect(segments).toHaveLength(m.config.n_layer + 1);
    expect(segments.every((s) => s.kernel && s.shards.length === 1)).toBe(true);
    expect(stageGraphs(m.stages[0]!)).toEqual([]); // no ORT graph at all
    const keys = manifestBlobs(m).map((b) => b.key);
    for (const t of [m.host!.wte, m.host!.wte_scale!, m.host!.wpe, ...m.stages[0]!.shards]) expect(keys).toContain(t.key);
    expect(() => graphOf(m.stages[0]!)).toThrow(/--attention graph/);
  });

  it('refuses host-attention without its parts, under version 1, or with a stage graph', () => {
    expect(edit((m) => delete m.host)).toThrow(/`host` is present exactly when/);
    expect(edit((m) => (m.version = 1))).toThrow(/needs version 2/);
    expect(edit((m) => delete m.layout)).toThrow(/`host` is present exactly when/);
    expect(edit((m) => (m.stages[0]!.graph = { ...(m.tokenizer as object), format: undefined }))).toThrow(/either `graph` or `segments`/);
    expect(edit((m) => (m.stages[0]!.segments as unknown[]).pop())).toThrow(/one segment per layer, plus one/);
    expect(edit((m) => (m.version = 4))).toThrow(/version 4 is not supported/);
  });

  it('refuses kernel segments under version 2, beside a graph, over several shards, or for other quantizations', () => {
    type Seg = { graph?: unknown; kernel?: unknown; shards: string[] };
    const seg0 = (m: typeof shipped) => (m.stages[0]!.segments as Seg[])[0]!;
    expect(edit((m) => (m.version = 2))).toThrow(/kernel segments need version 3/);
    expect(edit((m) => (seg0(m).graph = (m.stages[0]!.shards as unknown[])[0]))).toThrow(/either `graph` or `kernel`/);
    expect(edit((m) => seg0(m).shards.push(seg0(m).shards[0]!))).toThrow(/exactly one shard/);
    expect(edit((m) => ((m.quantization as { method: string }).method = 'fp32'))).toThrow(/int8 only/);
  });

  it('still reads version-1 graph manifests', () => {
    const files = buildMatMulModelFiles('m');
    const m = parseManifest(JSON.parse(new TextDecoder().decode(files.get('models/m/manifest.json')!)));
    expect([m.version, m.layout ?? 'graph']).toEqual([1, 'graph']);
    expect(stageGraphs(m.stages[0]!)).toEqual([graphOf(m.stages[0]!)]);
  });
});

/**
 * parseManifest's rules for the two layouts: the shipped host-attention manifest (version 2) parses and
 * every inconsistency between `layout`, `version`, `host` and the stages' graph/segments is refused with
 * a message; a version-1 graph manifest still parses.
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
  it('reads the shipped host-attention manifest: segments, host tensors, every blob listed', () => {
    const m = parseManifest(shipped);
    expect([m.version, m.layout]).toEqual([2, 'host-attention']);
    expect(stageGraphs(m.stages[0]!)).toHaveLength(m.config.n_layer + 1);
    const keys = manifestBlobs(m).map((b) => b.key);
    for (const t of [m.host!.wte, m.host!.wte_scale!, m.host!.wpe]) expect(keys).toContain(t.key);
    expect(() => graphOf(m.stages[0]!)).toThrow(/--attention graph/);
  });

  it('refuses host-attention without its parts, under version 1, or with a stage graph', () => {
    expect(edit((m) => delete m.host)).toThrow(/`host` is present exactly when/);
    expect(edit((m) => (m.version = 1))).toThrow(/needs version 2/);
    expect(edit((m) => delete m.layout)).toThrow(/`host` is present exactly when/);
    expect(edit((m) => (m.stages[0]!.graph = (m.stages[0]!.segments as { graph: unknown }[])[0]!.graph))).toThrow(
      /either `graph` or `segments`/,
    );
    expect(edit((m) => (m.stages[0]!.segments as unknown[]).pop())).toThrow(/one segment per layer, plus one/);
    expect(edit((m) => (m.version = 3))).toThrow(/version 3 is not supported/);
  });

  it('still reads version-1 graph manifests', () => {
    const files = buildMatMulModelFiles('m');
    const m = parseManifest(JSON.parse(new TextDecoder().decode(files.get('models/m/manifest.json')!)));
    expect([m.version, m.layout ?? 'graph']).toEqual([1, 'graph']);
    expect(stageGraphs(m.stages[0]!)).toEqual([graphOf(m.stages[0]!)]);
  });
});

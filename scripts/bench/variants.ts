/**
 * Decode-speed variants of a converted model, for measurement: the same shards (hard-linked), rewritten
 * stage graphs (graph-rewrite.ts) and a manifest under a new id `<id>-<variant>[-<variant>]`.
 *   head  separateHeadWeight     mi  matMulInteger (ORT fuses it back into DynamicQuantizeMatMul)
 *   cs    columnScaleAfter       fast  capacityKv (key padding mask): needs fast-lm.ts
 *   fastbias  capacityKv with an additive attention_bias instead
 *   inline    weights embedded in the graph (as transformers.js ships them) instead of external data
 */
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { blobKey, manifestKey, parseManifest, type Manifest, graphOf } from '../../worker/model/manifest.ts';
import { sha256Hex } from '../lib/sha256.ts';
import { onnx } from '../convert/onnx-builder.ts';
import { capacityKv, columnScaleAfter, matMulInteger, separateHeadWeight } from './graph-rewrite.ts';

export const VARIANTS = ['head', 'mi', 'cs', 'fast', 'fastbias', 'inline'] as const;
export type Variant = (typeof VARIANTS)[number];

export function variantId(id: string, variants: readonly Variant[]): string {
  return [id, ...variants].join('-');
}

/** Writes <outRoot>/<newId>/ (R2 layout) unless it exists; returns [dir, newId]. */
export function writeVariant(modelDir: string, id: string, variants: readonly Variant[], outRoot: string): [string, string] {
  const newId = variantId(id, variants);
  const out = path.join(outRoot, newId);
  if (existsSync(path.join(out, manifestKey(newId)))) return [out, newId];
  const m = parseManifest(JSON.parse(readFileSync(path.join(modelDir, manifestKey(id)), 'utf8')));
  mkdirSync(path.join(out, 'blobs'), { recursive: true });
  for (const f of readdirSync(path.join(modelDir, 'blobs'))) {
    const dest = path.join(out, 'blobs', f);
    if (!existsSync(dest)) linkSync(path.join(modelDir, 'blobs', f), dest);
  }
  const stages = m.stages.map((st) => {
    const model = onnx.ModelProto.decode(readFileSync(path.join(modelDir, graphOf(st).key)));
    let io = { inputs: st.inputs, outputs: st.outputs };
    if (variants.includes('head')) separateHeadWeight(model);
    if (variants.includes('mi')) matMulInteger(model);
    if (variants.includes('cs')) columnScaleAfter(model);
    if (variants.includes('fast')) io = capacityKv(model, 'padding');
    if (variants.includes('fastbias')) io = capacityKv(model, 'bias');
    if (variants.includes('inline')) {
      const byLocation = new Map(st.shards.map((sh) => [sh.location, readFileSync(path.join(modelDir, sh.key))]));
      for (const t of model.graph!.initializer ?? []) {
        const get = (k: string) => t.externalData?.find((e) => e.key === k)?.value;
        const data = get('location') && byLocation.get(get('location')!);
        if (!data) continue;
        const offset = Number(get('offset') ?? 0);
        t.rawData = data.subarray(offset, offset + Number(get('length') ?? data.length - offset));
        t.externalData = [];
        t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      }
    }
    const bytes = onnx.ModelProto.encode(model).finish();
    const sha = sha256Hex(bytes);
    writeFileSync(path.join(out, 'blobs', sha), bytes);
    return { ...st, graph: { key: blobKey(sha), bytes: bytes.length, sha256: sha }, inputs: io.inputs, outputs: io.outputs };
  });
  const manifest: Manifest = parseManifest({ ...m, id: newId, stages });
  mkdirSync(path.dirname(path.join(out, manifestKey(newId))), { recursive: true });
  writeFileSync(path.join(out, manifestKey(newId)), JSON.stringify(manifest, null, 2));
  return [out, newId];
}

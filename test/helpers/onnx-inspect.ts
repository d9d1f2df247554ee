/** Reads back what the converter wrote: a stage graph's initializers and where their bytes live. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from '../../scripts/convert/onnx-builder.ts';

export interface InitializerInfo {
  name: string;
  dims: number[];
  dataType: number;
  /** External-data location, or null when stored inside the graph. */
  location: string | null;
}

export function graphInitializers(
  dir: string,
  graphKey: string,
): { initializers: InitializerInfo[]; nodes: { opType: string; inputs: string[] }[] } {
  const model = onnx.ModelProto.decode(readFileSync(join(dir, graphKey)));
  const g = model.graph!;
  return {
    initializers: (g.initializer ?? []).map((t) => ({
      name: t.name ?? '',
      dims: (t.dims ?? []).map(Number),
      dataType: t.dataType ?? 0,
      location: (t.externalData ?? []).find((e) => e.key === 'location')?.value ?? null,
    })),
    nodes: (g.node ?? []).map((n) => ({ opType: n.opType ?? '', inputs: n.input ?? [] })),
  };
}

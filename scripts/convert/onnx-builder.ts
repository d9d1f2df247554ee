/**
 * A small ONNX graph builder over onnx-proto's generated protobufjs classes. Nodes get unique output names;
 * weights are external initializers whose `location` is resolved when the graph is encoded (a shard's name
 * is its SHA-256, known only once the shard is closed).
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type INodeProto = onnxProto.onnx.INodeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10 } as const;
export type DataType = (typeof DT)[keyof typeof DT];

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };

/** Where an initializer's bytes live: filled in by the shard writer. */
export interface ExternalPlacement {
  /** The shard's file name (`<sha256>.bin`), known after the shard is closed. */
  location: () => string;
  offset: number;
  length: number;
}

export class GraphBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly inline: ITensorProto[] = [];
  private readonly external: { tensor: ITensorProto; at: ExternalPlacement }[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  input(name: string, type: DataType, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: DataType, dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Adds a node; returns its output names (fresh unless `outputs` names them). */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    o: { domain?: string; outputs?: number | string[] } = {},
  ): string[] {
    const id = this.counter++;
    const outs = Array.isArray(o.outputs)
      ? o.outputs
      : Array.from({ length: o.outputs ?? 1 }, (_, i) => `${opType.toLowerCase()}_${id}${i ? `_${i}` : ''}`);
    this.nodes.push({
      opType,
      domain: o.domain ?? '',
      name: `${opType}_${id}`,
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Single-output shorthand. */
  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, o: { domain?: string; output?: string } = {}): string {
    return this.op(opType, inputs, attrs, { ...(o.domain ? { domain: o.domain } : {}), ...(o.output ? { outputs: [o.output] } : {}) })[0]!;
  }

  /** A small constant stored inside the graph (shapes, axes, scalars). */
  constI64(values: number[], dims: number[] = [values.length]): string {
    const name = `const_i64_${this.counter++}`;
    this.inline.push({ name, dataType: DT.INT64, dims, int64Data: values });
    return name;
  }

  constF32(values: number[], dims: number[] = [values.length]): string {
    const name = `const_f32_${this.counter++}`;
    this.inline.push({ name, dataType: DT.FLOAT, dims, floatData: values });
    return name;
  }

  /** A tensor stored inside the graph as raw little-endian bytes (benchmarks' small graphs; the converter places weights in shards). */
  rawInitializer(name: string, type: DataType, dims: number[], bytes: Uint8Array): string {
    this.inline.push({ name, dataType: type, dims, rawData: bytes });
    return name;
  }

  /** A weight stored as ONNX external data in a shard. */
  externalInitializer(name: string, type: DataType, dims: number[], at: ExternalPlacement): string {
    this.external.push({ tensor: { name, dataType: type, dims, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL }, at });
    return name;
  }

  /** Names of the external initializers, for tests and the manifest. */
  externalNames(): string[] {
    return this.external.map((e) => e.tensor.name!);
  }

  /** The shard locations this graph's external initializers point at (call after the shards are closed). */
  externalLocations(): string[] {
    return [...new Set(this.external.map((e) => e.at.location()))];
  }

  encode(producer: string): Uint8Array {
    const initializers = [
      ...this.inline,
      ...this.external.map(({ tensor, at }) => ({
        ...tensor,
        externalData: [
          { key: 'location', value: at.location() },
          { key: 'offset', value: String(at.offset) },
          { key: 'length', value: String(at.length) },
        ],
      })),
    ];
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: producer,
      opsetImport: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: initializers },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, elemType: DataType, dims: (number | string)[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } },
    },
  };
}

function attribute(name: string, v: AttrValue): IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  return { name, type: A.FLOATS, floats: v.floats };
}

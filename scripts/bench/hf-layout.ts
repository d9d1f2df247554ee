/**
 * Bench-only adapter: our converted one-stage graph, re-laid out the way transformers.js loads a
 * decoder-only model from disk, so both runtimes execute the same ops over the same weights.
 *
 *   <out>/config.json, tokenizer.json, tokenizer_config.json   from the HF checkpoint
 *   <out>/onnx/model_quantized.onnx (int8 → dtype 'q8') | model_q4.onnx (q4) | model.onnx (fp32)
 *
 * Graph edits (names only; no op changes):
 *   past_key.{i} / past_value.{i}       → past_key_values.{i}.key / .value   (inputs)
 *   present_key.{i} / present_value.{i} → present.{i}.key / .value           (outputs)
 *   logits_index                        → computed from a `num_logits_to_keep` input, which
 *                                         transformers.js sets to 1 while generating (0 = all)
 *   last_hidden_state                   dropped from the outputs (HF exports do not have it)
 *   dim `batch`                         → `batch_size` (transformers.js sizes the empty past by it)
 * and the external-data weights are embedded: one .onnx file, as transformers.js models on the Hub ship
 * (below protobuf's 2 GB limit for every GPT-2 size we bench).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type onnxProto from 'onnx-proto';
import { DT, onnx } from '../convert/onnx-builder.ts';
import { manifestKey, parseManifest, graphOf } from '../../worker/model/manifest.ts';

export const HF_FILE = { int8: 'model_quantized.onnx', q4: 'model_q4.onnx', fp32: 'model.onnx' } as const;
export const HF_DTYPE = { int8: 'q8', q4: 'q4', fp32: 'fp32' } as const;

type Node = onnxProto.onnx.INodeProto;
type Attr = onnxProto.onnx.IAttributeProto;

/** Builds <out> from a converted model dir (R2 layout) and the checkpoint it came from; returns <out>. */
export function writeHfLayout(modelDir: string, id: string, checkpointDir: string, out: string): string {
  const manifest = parseManifest(JSON.parse(readFileSync(path.join(modelDir, manifestKey(id)), 'utf8')));
  if (manifest.stages.length !== 1) throw new Error(`hf-layout: ${id} has ${manifest.stages.length} stages; convert with --stages 1`);
  if (manifest.kv_dtype !== 'float32') throw new Error('hf-layout: transformers.js feeds a float32 KV cache; convert with --kv float32');
  const stage = manifest.stages[0]!;
  const model = onnx.ModelProto.decode(readFileSync(path.join(modelDir, graphOf(stage).key)));
  const g = model.graph!;

  const rename = new Map<string, string>();
  for (let i = 0; i < manifest.config.n_layer; i++) {
    rename.set(`past_key.${i}`, `past_key_values.${i}.key`);
    rename.set(`past_value.${i}`, `past_key_values.${i}.value`);
    rename.set(`present_key.${i}`, `present.${i}.key`);
    rename.set(`present_value.${i}`, `present.${i}.value`);
  }
  const to = (n: string) => rename.get(n) ?? n;
  for (const node of g.node ?? []) {
    node.input = (node.input ?? []).map(to);
    node.output = (node.output ?? []).map(to);
  }
  for (const v of [...(g.input ?? []), ...(g.output ?? [])]) {
    v.name = to(v.name!);
    // transformers.js sizes the empty past from the input metadata and knows the symbol `batch_size`.
    for (const d of v.type?.tensorType?.shape?.dim ?? []) if (d.dimParam === 'batch') d.dimParam = 'batch_size';
  }
  g.output = (g.output ?? []).filter((v) => v.name !== 'last_hidden_state');

  // logits_index [k] = Range(seq - n, seq) with n = num_logits_to_keep, 0 meaning every position.
  g.input = (g.input ?? []).filter((v) => v.name !== 'logits_index');
  g.input.push({ name: 'num_logits_to_keep', type: { tensorType: { elemType: DT.INT64, shape: { dim: [] } } } });
  const c = (name: string, values: number[], dims: number[]) => g.initializer!.push({ name, dataType: DT.INT64, dims, int64Data: values });
  c('bench_axis0', [0], [1]);
  c('bench_zero', [0], []);
  c('bench_one', [1], []);
  const n = (opType: string, input: string[], output: string, attrs: Attr[] = []): Node => ({
    opType,
    domain: '',
    name: `bench_${output}`,
    input,
    output: [output],
    attribute: attrs,
  });
  const ints = (name: string, i: number): Attr => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const pre: Node[] = [
    n('Shape', ['input_ids'], 'bench_seq1', [ints('start', 1), ints('end', 2)]), // [1]
    n('Squeeze', ['bench_seq1', 'bench_axis0'], 'bench_seq'), // []
    n('Equal', ['num_logits_to_keep', 'bench_zero'], 'bench_all'),
    n('Where', ['bench_all', 'bench_seq', 'num_logits_to_keep'], 'bench_keep'),
    n('Sub', ['bench_seq', 'bench_keep'], 'bench_first'),
    n('Range', ['bench_first', 'bench_seq', 'bench_one'], 'logits_index'), // [k]
  ];
  g.node = [...pre, ...(g.node ?? [])];

  // Embed the external data (shard bytes by location).
  const shardBytes = new Map(stage.shards.map((s) => [s.location, readFileSync(path.join(modelDir, s.key))]));
  for (const t of g.initializer ?? []) {
    if (!t.externalData?.length) continue;
    const get = (k: string) => t.externalData!.find((e) => e.key === k)?.value;
    const bytes = shardBytes.get(get('location')!);
    if (!bytes) throw new Error(`hf-layout: ${t.name} points at an unknown shard ${get('location')}`);
    const offset = Number(get('offset') ?? 0);
    t.rawData = bytes.subarray(offset, offset + Number(get('length') ?? bytes.length - offset));
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  }

  mkdirSync(path.join(out, 'onnx'), { recursive: true });
  writeFileSync(path.join(out, 'onnx', HF_FILE[manifest.quantization.method]), onnx.ModelProto.encode(model).finish());
  const config = JSON.parse(readFileSync(path.join(checkpointDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(path.join(out, 'config.json'), JSON.stringify({ ...config, model_type: 'gpt2', use_cache: true }, null, 2));
  copyFileSync(path.join(checkpointDir, 'tokenizer.json'), path.join(out, 'tokenizer.json'));
  const tc = path.join(checkpointDir, 'tokenizer_config.json');
  if (existsSync(tc)) copyFileSync(tc, path.join(out, 'tokenizer_config.json'));
  else
    writeFileSync(
      path.join(out, 'tokenizer_config.json'),
      JSON.stringify({ tokenizer_class: 'GPT2Tokenizer', model_max_length: manifest.config.n_positions }),
    );
  return out;
}

/**
 * Graph rewrites measured by the bench (proposed for the converter; see BENCHMARKS.md "Making decode fast").
 *
 * separateHeadWeight: in int8 graphs the tied embedding `wte.weight_qT` [n_embd, vocab] feeds both the
 * lookup (Gather) and the LM head (DynamicQuantizeMatMul). ORT only pre-packs a constant B for its
 * int8 GEMM when no other node reads it, so with the shared initializer the head re-packs all
 * n_embd × vocab bytes on every call — the single most expensive kernel of a decode step. Giving the
 * head its own initializer *over the same external bytes* (same location/offset/length: the shard stores
 * them once) lets ORT pre-pack it once at session creation. Heap cost: the packed copy, which the
 * converter's memory estimate already counts ("head copy").
 */
import type onnxProto from 'onnx-proto';
import { onnx } from '../convert/onnx-builder.ts';

type Model = onnxProto.onnx.ModelProto;

/** Returns the names of initializers given a head-only twin (empty when nothing was shared). */
export function separateHeadWeight(model: Model): string[] {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const consumers = new Map<string, onnxProto.onnx.INodeProto[]>();
  for (const n of g.node ?? []) for (const i of n.input ?? []) if (inits.has(i)) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const changed: string[] = [];
  for (const [name, nodes] of consumers) {
    const heads = nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul' && n.input?.[1] === name);
    if (heads.length === 0 || heads.length === nodes.length) continue;
    const twin = onnx.TensorProto.create({ ...inits.get(name)!, name: `${name}.head` });
    g.initializer!.push(twin);
    for (const h of heads) h.input![1] = twin.name;
    changed.push(name);
  }
  return changed;
}

export function rewriteGraph(bytes: Uint8Array, rewrites: readonly ((m: Model) => unknown)[]): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  for (const r of rewrites) r(model);
  return onnx.ModelProto.encode(model).finish();
}

type INode = onnxProto.onnx.INodeProto;
const F32 = 1;
const I64 = 7;
const I32 = 6;

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/**
 * capacityKv: the KV cache stays in JS buffers with spare capacity and only the new token's K/V come
 * out of the graph (the proposed "fast KV" I/O; runtime in scripts/bench/fast-lm.ts):
 *   inputs   past_key.{i} / past_value.{i}  [batch, n_head, capacity, head_dim]  slots >= past_length are junk
 *            kv_mask         int32 [batch, capacity + seq]         1 = attend, 0 = junk slot (MHA key_padding_mask)
 *              (or attention_bias float32 [1, 1, seq, capacity + seq], 0 / -1e9: measured slower)
 *            past_length     int64 [1]                             stage 0: positions start here
 *   outputs  new_key.{i} / new_value.{i}   [batch, seq, n_embd]  (was present_* [batch, n_head, past+seq, head_dim])
 * ORT-web no longer copies the whole cache out of the WASM heap into fresh JS arrays every step, and the
 * JS side appends n_embd floats per layer per token into buffers it reuses. (MultiHeadAttention still
 * concatenates past + new inside the heap: see below.)
 */
export function capacityKv(model: Model, mask: 'bias' | 'padding' = 'padding'): { inputs: string[]; outputs: string[] } {
  const g = model.graph!;
  const nodes = g.node ?? [];
  const mha = nodes.filter((n) => n.opType === 'MultiHeadAttention');
  if (mha.length === 0) throw new Error('capacityKv: no MultiHeadAttention node');
  const present = new Set<string>();
  const extra: INode[] = [];
  for (const n of mha) {
    const input = n.input!;
    const i = Number(/^past_key\.(\d+)$/.exec(input[6] ?? '')?.[1]);
    if (!Number.isInteger(i)) throw new Error('capacityKv: float32 KV graphs only (MHA must read past_key.{i} directly)');
    while (input.length < 8) input.push('');
    if (mask === 'bias') input[5] = 'attention_bias';
    else input[4] = 'kv_mask';
    // present_* stay as node outputs but leave the graph outputs: ORT's CPU MultiHeadAttention silently
    // ignores past_key/past_value when its present outputs are absent (measured: logits as if past were
    // empty), so the in-heap concat stays; what goes is the copy out to JS and the fresh arrays.
    for (const o of n.output!.slice(1)) if (o) present.add(o);
    extra.push({ opType: 'Identity', domain: '', name: `new_key_${i}`, input: [input[1]!], output: [`new_key.${i}`] });
    extra.push({ opType: 'Identity', domain: '', name: `new_value_${i}`, input: [input[2]!], output: [`new_value.${i}`] });
  }
  // Stage 0 derives positions from past_key.{first}'s dim 2; with spare capacity that is past_length's job.
  const shapes = nodes.filter((n) => n.opType === 'Shape' && /^past_key\.\d+$/.test(n.input?.[0] ?? ''));
  for (const s of shapes) {
    const out = s.output![0]!;
    for (const n of nodes) n.input = n.input!.map((x) => (x === out ? 'past_length' : x));
  }
  g.node = [...nodes.filter((n) => !shapes.includes(n)), ...extra];
  for (const v of g.input ?? []) {
    if (/^past_(key|value)\.\d+$/.test(v.name!)) {
      const d = v.type!.tensorType!.shape!.dim!;
      d[2] = { dimParam: 'capacity' };
    }
  }
  if (mask === 'bias') g.input!.push(valueInfo('attention_bias', F32, [1, 1, 'seq', 'capacity_plus_seq']));
  else g.input!.push(valueInfo('kv_mask', I32, ['batch', 'capacity_plus_seq']));
  if (shapes.length) g.input!.push(valueInfo('past_length', I64, [1]));
  const E = Number(g.input!.find((v) => v.name === 'hidden_in')?.type?.tensorType?.shape?.dim?.[2]?.dimValue ?? 0);
  g.output = (g.output ?? []).filter((v) => !present.has(v.name!));
  for (const n of extra) g.output.push(valueInfo(n.output![0]!, F32, ['batch', 'seq', E || 'n_embd']));
  return { inputs: g.input!.map((v) => v.name!), outputs: g.output.map((v) => v.name!) };
}

/**
 * matMulInteger: DynamicQuantizeMatMul(x, W, scale[N], '', bias) → DynamicQuantizeLinear(x) + MatMulInteger +
 * per-column dequantization on the [.., N] output. Same weights and math (x is quantized per tensor to
 * uint8 either way); only the kernel ORT picks changes.
 */
export function matMulInteger(model: Model): number {
  const g = model.graph!;
  const out: INode[] = [];
  let changed = 0;
  for (const n of g.node ?? []) {
    if (n.opType !== 'DynamicQuantizeMatMul' || n.input?.[3]) {
      out.push(n);
      continue;
    }
    const [x, W, S, , bias] = n.input!;
    const p = `mi_${changed++}`;
    const y = n.output![0]!;
    out.push(
      { opType: 'DynamicQuantizeLinear', domain: '', name: `${p}_dql`, input: [x!], output: [`${p}_xq`, `${p}_xs`, `${p}_xz`] },
      { opType: 'MatMulInteger', domain: '', name: `${p}_mm`, input: [`${p}_xq`, W!, `${p}_xz`], output: [`${p}_acc`] },
      { opType: 'Cast', domain: '', name: `${p}_cast`, input: [`${p}_acc`], output: [`${p}_f`], attribute: [{ name: 'to', type: 2 /* INT */, i: F32 }] },
      { opType: 'Mul', domain: '', name: `${p}_scale`, input: [`${p}_xs`, S!], output: [`${p}_s`] },
      { opType: 'Mul', domain: '', name: `${p}_deq`, input: [`${p}_f`, `${p}_s`], output: [bias ? `${p}_y` : y] },
      ...(bias ? [{ opType: 'Add', domain: '', name: `${p}_bias`, input: [`${p}_y`, bias], output: [y] }] : []),
    );
  }
  g.node = out;
  return changed;
}

/**
 * columnScaleAfter: DynamicQuantizeMatMul(x, W, scale[N], '', bias) → DynamicQuantizeMatMul(x, W, [1]) · scale + bias.
 * The same product (a per-column weight scale only multiplies output column j), but measured in the WASM
 * build at m = 1 (decode) a per-column b_scale sends the kernel down a path ~10–20× slower than a single
 * scale for GPT-2's layer shapes (scripts/bench/micro.ts); the [.., N] multiply costs next to nothing.
 */
export function columnScaleAfter(model: Model): number {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const ONE = 'bench_unit_scale';
  g.initializer!.push({ name: ONE, dataType: F32, dims: [1], floatData: [1] });
  const out: INode[] = [];
  let changed = 0;
  for (const n of g.node ?? []) {
    const [x, W, S, zp, bias] = n.input ?? [];
    const dims = inits.get(S ?? '')?.dims ?? [];
    if (n.opType !== 'DynamicQuantizeMatMul' || zp || dims.length !== 1 || Number(dims[0]) <= 1) {
      out.push(n);
      continue;
    }
    const y = n.output![0]!;
    const p = `cs_${changed++}`;
    out.push(
      { ...n, input: [x!, W!, ONE], output: [`${p}_raw`] },
      { opType: 'Mul', domain: '', name: `${p}_scale`, input: [`${p}_raw`, S!], output: [bias ? `${p}_scaled` : y] },
      ...(bias ? [{ opType: 'Add', domain: '', name: `${p}_bias`, input: [`${p}_scaled`, bias], output: [y] }] : []),
    );
  }
  g.node = out;
  return changed;
}

/**
 * One stage of the GPT-2 decoder as an ONNX graph, following the I/O contract in worker/model/manifest.ts:
 * stage 0 embeds `input_ids` (positions past .. past+seq-1 from past_key.{first}'s dim 2), every stage runs
 * its blocks with a KV cache, the last applies ln_f and the tied LM head at `logits_index`.
 *
 * Attention is com.microsoft MultiHeadAttention with past key/value and `unidirectional=1` (causal over
 * past + seq; checked against a plain TypeScript forward pass in test/unit/convert/convert.test.ts).
 */
import { innerWidth } from '../../worker/model/manifest.ts';
import { DT } from './onnx-builder.ts';
import { tiedEmbedding, type TiedEmbedding } from './embedding.ts';
import { fp32Weight, linear, type WeightContext } from './weights.ts';

export interface StageSpec {
  index: number;
  count: number;
  /** Layers [first, end). */
  first: number;
  end: number;
  kv: 'float32' | 'float16';
}

export interface StageIO {
  inputs: string[];
  outputs: string[];
}

export async function buildStage(ctx: WeightContext, s: StageSpec, onLayer?: (i: number) => void): Promise<StageIO> {
  const { g, ck } = ctx;
  const { n_embd: E, n_head: H, layer_norm_epsilon: eps } = ck.config;
  const hd = E / H;
  const isFirst = s.index === 0;
  const isLast = s.index === s.count - 1;
  const kvType = s.kv === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  const inputs: string[] = [];
  const outputs: string[] = [];

  // Tied embedding: stage 0 needs the lookup, the last stage the head; with one stage they share it.
  let emb: TiedEmbedding | null = null;
  const embedding = async (): Promise<TiedEmbedding> => (emb ??= await tiedEmbedding(ctx));

  let x: string;
  if (isFirst) {
    const ids = g.input('input_ids', DT.INT64, ['batch', 'seq']);
    inputs.push(ids);
    const tok = (await embedding()).lookup(ids); // [batch, seq, n_embd]
    const past = g.op1('Shape', [`past_key.${s.first}`], { start: 2, end: 3 }); // [1]: past length
    const seq = g.op1('Shape', [ids], { start: 1, end: 2 }); // [1]
    const end = g.op1('Add', [past, seq]);
    const scalar = g.constI64([0]);
    const pos = g.op1('Range', [g.op1('Squeeze', [past, scalar]), g.op1('Squeeze', [end, scalar]), g.constI64([1], [])]); // [seq]
    const wpe = await fp32Weight(ctx, 'wpe.weight', [ck.config.n_positions, E]);
    x = g.op1('Add', [tok, g.op1('Gather', [wpe, pos], { axis: 0 })]); // [batch, seq, n_embd]
  } else {
    x = g.input('hidden_in', DT.FLOAT, ['batch', 'seq', E]);
    inputs.push(x);
  }

  const kvDims = (len: string) => ['batch', H, len, hd];
  for (let i = s.first; i < s.end; i++) {
    const pk = g.input(`past_key.${i}`, kvType, kvDims('past'));
    const pv = g.input(`past_value.${i}`, kvType, kvDims('past'));
    inputs.push(pk, pv);
    x = await block(ctx, x, i, pk, pv, kvType, eps, H);
    outputs.push(`present_key.${i}`, `present_value.${i}`);
    g.output(`present_key.${i}`, kvType, kvDims('total'));
    g.output(`present_value.${i}`, kvType, kvDims('total'));
    onLayer?.(i);
  }

  if (!isLast) {
    g.op1('Identity', [x], {}, { output: 'hidden_out' });
    g.output('hidden_out', DT.FLOAT, ['batch', 'seq', E]);
    outputs.push('hidden_out');
    return { inputs, outputs };
  }
  const idx = g.input('logits_index', DT.INT64, ['k']);
  inputs.push(idx);
  const lnW = await fp32Weight(ctx, 'ln_f.weight', [E]);
  const lnB = await fp32Weight(ctx, 'ln_f.bias', [E]);
  const h = g.op1('LayerNormalization', [x, lnW, lnB], { axis: -1, epsilon: { float: eps } }, { output: 'last_hidden_state' });
  const picked = g.op1('Gather', [h, idx], { axis: 1 }); // [batch, k, n_embd]
  (await embedding()).head(picked, 'logits'); // [batch, k, vocab]
  g.output('logits', DT.FLOAT, ['batch', 'k', ck.config.vocab_size]);
  g.output('last_hidden_state', DT.FLOAT, ['batch', 'seq', E]);
  outputs.push('logits', 'last_hidden_state');
  return { inputs, outputs };
}

/** One pre-LN transformer block. x: [batch, seq, n_embd]. */
async function block(
  ctx: WeightContext,
  x: string,
  i: number,
  pk: string,
  pv: string,
  kvType: number,
  eps: number,
  H: number,
): Promise<string> {
  const { g } = ctx;
  const E = ctx.ck.config.n_embd;
  const I = innerWidth(ctx.ck.config);
  const p = `h.${i}`;
  const ln = async (name: string, input: string): Promise<string> =>
    g.op1(
      'LayerNormalization',
      [input, await fp32Weight(ctx, `${p}.${name}.weight`, [E]), await fp32Weight(ctx, `${p}.${name}.bias`, [E])],
      { axis: -1, epsilon: { float: eps } },
    );

  const qkv = await linear(ctx, await ln('ln_1', x), `${p}.attn.c_attn`, E, 3 * E); // [batch, seq, 3*n_embd]
  const [q, k, v] = g.op('Split', [qkv, g.constI64([E, E, E])], { axis: 2 }, { outputs: 3 }) as [string, string, string];
  const f16 = kvType === DT.FLOAT16;
  const toF32 = (t: string): string => (f16 ? g.op1('Cast', [t], { to: DT.FLOAT }) : t);
  const presentNames = f16 ? [`present_key_f32.${i}`, `present_value_f32.${i}`] : [`present_key.${i}`, `present_value.${i}`];
  // Inputs: query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value.
  // past/present: [batch, n_head, past(+seq), head_dim]; output [batch, seq, n_embd].
  const [attn] = g.op(
    'MultiHeadAttention',
    [q, k, v, '', '', '', toF32(pk), toF32(pv)],
    { num_heads: H, unidirectional: 1 },
    {
      domain: 'com.microsoft',
      outputs: [`attn_${i}`, ...presentNames],
    },
  );
  if (f16) {
    g.op1('Cast', [presentNames[0]!], { to: DT.FLOAT16 }, { output: `present_key.${i}` });
    g.op1('Cast', [presentNames[1]!], { to: DT.FLOAT16 }, { output: `present_value.${i}` });
  }
  x = g.op1('Add', [x, await linear(ctx, attn!, `${p}.attn.c_proj`, E, E)]);

  const fc = await linear(ctx, await ln('ln_2', x), `${p}.mlp.c_fc`, E, I); // [batch, seq, n_inner]
  const act = g.op1('FastGelu', [fc], {}, { domain: 'com.microsoft' }); // gelu_new: the tanh approximation
  return g.op1('Add', [x, await linear(ctx, act, `${p}.mlp.c_proj`, I, E)]);
}

/**
 * GPT-2's tensor names and shapes as Hugging Face saves them (GPT2Model; Conv1D weights are [in, out]).
 * Shared by the synthetic checkpoint writer, the converter's checks and the test reference.
 */
import { innerWidth } from '../../worker/model/manifest.ts';

export interface Gpt2Dims {
  n_layer: number;
  n_head: number;
  n_embd: number;
  n_positions: number;
  vocab_size: number;
  /** Width of the MLP (GPT2Config.n_inner); absent or null: 4 x n_embd, as in every released GPT-2. */
  n_inner?: number | null;
}

export interface TensorSpec {
  name: string;
  shape: number[];
  kind: 'embedding' | 'position' | 'ln_weight' | 'ln_bias' | 'weight' | 'bias' | 'proj_weight';
}

export function layerTensors(d: Gpt2Dims, i: number): TensorSpec[] {
  const E = d.n_embd;
  const I = innerWidth(d);
  const h = `h.${i}`;
  return [
    { name: `${h}.ln_1.weight`, shape: [E], kind: 'ln_weight' },
    { name: `${h}.ln_1.bias`, shape: [E], kind: 'ln_bias' },
    { name: `${h}.attn.c_attn.weight`, shape: [E, 3 * E], kind: 'weight' }, // [in, out]: q | k | v
    { name: `${h}.attn.c_attn.bias`, shape: [3 * E], kind: 'bias' },
    { name: `${h}.attn.c_proj.weight`, shape: [E, E], kind: 'proj_weight' },
    { name: `${h}.attn.c_proj.bias`, shape: [E], kind: 'bias' },
    { name: `${h}.ln_2.weight`, shape: [E], kind: 'ln_weight' },
    { name: `${h}.ln_2.bias`, shape: [E], kind: 'ln_bias' },
    { name: `${h}.mlp.c_fc.weight`, shape: [E, I], kind: 'weight' },
    { name: `${h}.mlp.c_fc.bias`, shape: [I], kind: 'bias' },
    { name: `${h}.mlp.c_proj.weight`, shape: [I, E], kind: 'proj_weight' },
    { name: `${h}.mlp.c_proj.bias`, shape: [E], kind: 'bias' },
  ];
}

/** Every tensor of a GPT-2 checkpoint, in the order HF writes them (without the `transformer.` prefix). */
export function gpt2Tensors(d: Gpt2Dims): TensorSpec[] {
  const out: TensorSpec[] = [
    { name: 'wte.weight', shape: [d.vocab_size, d.n_embd], kind: 'embedding' },
    { name: 'wpe.weight', shape: [d.n_positions, d.n_embd], kind: 'position' },
  ];
  for (let i = 0; i < d.n_layer; i++) out.push(...layerTensors(d, i));
  out.push({ name: 'ln_f.weight', shape: [d.n_embd], kind: 'ln_weight' });
  out.push({ name: 'ln_f.bias', shape: [d.n_embd], kind: 'ln_bias' });
  return out;
}

/** Parameters with the tied embedding counted once. */
export function parameterCount(d: Gpt2Dims): number {
  return gpt2Tensors(d).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

export const PRESETS: Readonly<Record<string, Gpt2Dims>> = {
  gpt2: { n_layer: 12, n_head: 12, n_embd: 768, n_positions: 1024, vocab_size: 50257 },
  distilgpt2: { n_layer: 6, n_head: 12, n_embd: 768, n_positions: 1024, vocab_size: 50257 },
  'gpt2-medium': { n_layer: 24, n_head: 16, n_embd: 1024, n_positions: 1024, vocab_size: 50257 },
  'gpt2-large': { n_layer: 36, n_head: 20, n_embd: 1280, n_positions: 1024, vocab_size: 50257 },
  'gpt2-xl': { n_layer: 48, n_head: 25, n_embd: 1600, n_positions: 1024, vocab_size: 50257 },
};

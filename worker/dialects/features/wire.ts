/**
 * Wire shapes of the feature routes. Pure: hidden states in, JSON values out.
 *
 * HF feature-extraction answers what transformers' FeatureExtractionPipeline returns for a text model
 * (`last_hidden_state.tolist()`): `[1][tokens][n_embd]` per string — the leading 1 is the pipeline's
 * batch of one — and, as the pipeline does, a list of those for a list of strings, so each input's
 * answer is the same alone or in a list. (TEI's /embed_all answers `[n][tokens][dim]` for a list.)
 *
 * OpenAI embeddings (openai v6 `CreateEmbeddingResponse`): `{object: "list", data: [{object:
 * "embedding", index, embedding}], model, usage: {prompt_tokens, total_tokens}}`; `embedding` is a
 * number array, or with encoding_format "base64" the little-endian float32 bytes in base64 (what the
 * openai SDK asks for by default and decodes with Float32Array).
 */

import type { HiddenStates } from '../../service/types.ts';

export type { HiddenStates };

/** `[tokens][nEmbd]` nested arrays; with `normalize`, every token's vector has unit L2 norm. */
function tokenRows(h: HiddenStates, normalize = false): number[][] {
  const rows: number[][] = [];
  for (let t = 0; t < h.tokens; t++) {
    const row = h.data.subarray(t * h.nEmbd, (t + 1) * h.nEmbd); // [nEmbd]
    rows.push(Array.from(normalize ? l2Normalize(row) : row));
  }
  return rows;
}

/** The HF answer: `[1][tokens][nEmbd]` for one string, `[n][1][tokens][nEmbd]` for a list. */
export function hfFeatures(all: readonly HiddenStates[], single: boolean, normalize: boolean): number[][][] | number[][][][] {
  const per = all.map((h) => [tokenRows(h, normalize)]);
  return single ? per[0]! : per;
}

/** Mean over the tokens: [tokens, nEmbd] → [nEmbd] (accumulated in float64, then rounded once). */
export function meanPool(h: HiddenStates): Float32Array {
  const sum = new Float64Array(h.nEmbd);
  for (let t = 0; t < h.tokens; t++) {
    for (let e = 0; e < h.nEmbd; e++) sum[e]! += h.data[t * h.nEmbd + e]!;
  }
  return Float32Array.from(sum, (s) => s / h.tokens);
}

export function l2Normalize(v: Float32Array): Float32Array {
  let sq = 0;
  for (const x of v) sq += x * x;
  const norm = Math.sqrt(sq);
  // A zero vector stays zero rather than becoming NaN.
  return norm > 0 ? Float32Array.from(v, (x) => x / norm) : Float32Array.from(v);
}

/** Little-endian float32 bytes, base64 (numpy's `np.frombuffer(b64decode(s), dtype="<f4")` reads it back). */
function float32Base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  v.forEach((x, i) => view.setFloat32(i * 4, x, true));
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

interface EmbeddingOut {
  object: 'embedding';
  index: number;
  embedding: number[] | string;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: EmbeddingOut[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export function embeddingsResponse(
  model: string,
  vectors: readonly Float32Array[],
  encoding: 'float' | 'base64',
  promptTokens: number,
): EmbeddingsResponse {
  return {
    object: 'list',
    data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: encoding === 'base64' ? float32Base64(v) : Array.from(v) })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/**
 * Runs a converted model directory (<dir>/blobs, <dir>/models/<id>/manifest.json) with onnxruntime-web's
 * WASM build in Node: one session per stage, shards passed as external data, KV cache carried between calls.
 * Test-only; the Worker's loader lives in worker/model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { manifestKey, parseManifest, type Manifest, graphOf } from '../../worker/model/manifest.ts';

ort.env.wasm.numThreads = 1;

export type Past = Map<string, ort.Tensor>;

export interface StepOutput {
  /** [batch, k, vocab] */
  logits: Float32Array;
  /** [batch, seq, n_embd] after ln_f */
  hidden: Float32Array;
  present: Past;
}

export class OrtModel {
  private constructor(
    readonly manifest: Manifest,
    private readonly sessions: ort.InferenceSession[],
  ) {}

  static async load(dir: string, id: string, options: ort.InferenceSession.SessionOptions = {}): Promise<OrtModel> {
    const manifest = parseManifest(JSON.parse(readFileSync(join(dir, manifestKey(id)), 'utf8')));
    const blob = (key: string): Uint8Array => new Uint8Array(readFileSync(join(dir, key)));
    const sessions: ort.InferenceSession[] = [];
    for (const st of manifest.stages) {
      sessions.push(
        await ort.InferenceSession.create(blob(graphOf(st).key), {
          executionProviders: ['wasm'],
          externalData: st.shards.map((s) => ({ path: s.location, data: blob(s.key) })),
          ...options,
        }),
      );
    }
    return new OrtModel(manifest, sessions);
  }

  emptyPast(batch: number): Past {
    const { n_layer, n_head, n_embd } = this.manifest.config;
    const dims = [batch, n_head, 0, n_embd / n_head];
    const f16 = this.manifest.kv_dtype === 'float16';
    const past: Past = new Map();
    for (let i = 0; i < n_layer; i++) {
      for (const kind of ['key', 'value']) {
        past.set(
          `${kind}.${i}`,
          f16 ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims),
        );
      }
    }
    return past;
  }

  /** ids: [batch][seq]; logitsIndex: positions in [0, seq) to score. */
  async step(ids: readonly (readonly number[])[], past: Past, logitsIndex: readonly number[]): Promise<StepOutput> {
    const batch = ids.length;
    const seq = ids[0]!.length;
    const present: Past = new Map();
    let hiddenIn: ort.Tensor | null = null;
    let result: StepOutput | null = null;
    for (let s = 0; s < this.sessions.length; s++) {
      const st = this.manifest.stages[s]!;
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of st.inputs) {
        if (name === 'input_ids')
          feeds[name] = new ort.Tensor(
            'int64',
            BigInt64Array.from(ids.flat(), (v) => BigInt(v)),
            [batch, seq],
          );
        else if (name === 'hidden_in') feeds[name] = hiddenIn!;
        else if (name === 'logits_index')
          feeds[name] = new ort.Tensor(
            'int64',
            BigInt64Array.from(logitsIndex, (v) => BigInt(v)),
            [logitsIndex.length],
          );
        else feeds[name] = past.get(name.replace(/^past_/, ''))!;
      }
      const out = await this.sessions[s]!.run(feeds);
      for (const name of st.outputs) if (name.startsWith('present_')) present.set(name.replace(/^present_/, ''), out[name]!);
      if (out.hidden_out) hiddenIn = out.hidden_out;
      if (out.logits) result = { logits: out.logits.data as Float32Array, hidden: out.last_hidden_state!.data as Float32Array, present };
    }
    return result!;
  }

  /** Greedy continuation of one prompt with the KV cache: prefill, then one token per step. */
  async greedy(prompt: readonly number[], newTokens: number): Promise<number[]> {
    const V = this.manifest.config.vocab_size;
    let past = this.emptyPast(1);
    let input = [...prompt];
    const out: number[] = [];
    for (let i = 0; i < newTokens; i++) {
      const r = await this.step([input], past, [input.length - 1]);
      const next = argmax(r.logits.subarray(0, V));
      out.push(next);
      past = r.present;
      input = [next];
    }
    return out;
  }

  async release(): Promise<void> {
    for (const s of this.sessions) await s.release();
  }
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

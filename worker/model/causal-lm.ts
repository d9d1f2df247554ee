/**
 * OnnxCausalLM: the CausalLM contract over one ORT InferenceSession per stage (graph I/O contract in
 * manifest.ts). Stage 0 takes input_ids, later stages take the previous stage's hidden_out; the last
 * stage returns logits at `logits_index`. The KV cache is a set of ORT tensors owned by the caller.
 */
import type * as ortTypes from 'onnxruntime-web';
import type { CausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig } from '../generation/types.ts';
import { checkForward, lmConfig, ownCache } from './lm-contract.ts';
import type { Manifest, Stage } from './manifest.ts';
import { Mutex } from './mutex.ts';
import type { OrtRuntime } from './ort.ts';

type Tensor = ortTypes.Tensor;
type Session = ortTypes.InferenceSession;

/** Per-request cache: `past_key.{i}` / `past_value.{i}` → [batch, n_head, length, head_dim]. */
class OrtKVCache implements KVCache {
  released = false;
  constructor(
    readonly batch: number,
    readonly length: number,
    readonly tensors: Map<string, Tensor>,
  ) {}
}

export class OnnxCausalLM implements CausalLM {
  readonly config: LMConfig;
  private readonly nHead: number;
  private readonly headDim: number;
  private readonly kvType: 'float32' | 'float16';
  private readonly mutex = new Mutex();
  /** Forward calls run so far (all requests): lets tests and logs observe that compute stopped. */
  steps = 0;

  constructor(
    private readonly rt: OrtRuntime,
    private readonly manifest: Manifest,
    private readonly sessions: readonly Session[],
  ) {
    const c = manifest.config;
    this.config = lmConfig(c);
    this.nHead = c.n_head;
    this.headDim = c.n_embd / c.n_head;
    this.kvType = manifest.kv_dtype;
    if (sessions.length !== manifest.stages.length) throw new Error('one session per stage expected');
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const { batch, seq, past, pastLength: pastLen } = checkForward(req, this.config, OrtKVCache);
    const { Tensor } = this.rt.ort;
    const ids = BigInt64Array.from(req.inputIds.flat(), (id) => BigInt(id)); // [batch, seq]
    const k = req.logitsFor === 'all' ? seq : 1;
    const logitsIndex = BigInt64Array.from({ length: k }, (_, i) => BigInt(req.logitsFor === 'all' ? i : seq - 1)); // [k]

    const result = await this.mutex.run(async () => {
      this.steps++;
      const present = new Map<string, Tensor>();
      let hidden: Tensor | undefined;
      let out: ForwardResult | undefined;
      for (const [s, stage] of this.manifest.stages.entries()) {
        const feeds: Record<string, Tensor> = {};
        if (stage.inputs.includes('input_ids')) feeds.input_ids = new Tensor('int64', ids, [batch, seq]);
        if (stage.inputs.includes('hidden_in')) feeds.hidden_in = hidden!;
        if (stage.inputs.includes('logits_index')) feeds.logits_index = new Tensor('int64', logitsIndex, [k]);
        for (let i = stage.layers[0]; i < stage.layers[1]; i++) {
          for (const kind of ['key', 'value']) {
            feeds[`past_${kind}.${i}`] = past?.tensors.get(`past_${kind}.${i}`) ?? this.emptyPast(batch);
          }
        }
        const outputs = await this.sessions[s]!.run(feeds, this.fetches(stage, req.hidden === true));
        for (let i = stage.layers[0]; i < stage.layers[1]; i++) {
          for (const kind of ['key', 'value']) present.set(`past_${kind}.${i}`, outputs[`present_${kind}.${i}`]!);
        }
        if (outputs.hidden_out) hidden = outputs.hidden_out;
        if (outputs.logits) {
          out = {
            logits: outputs.logits.data as Float32Array, // [batch, k, vocab]
            positions: k,
            cache: new OrtKVCache(batch, pastLen + seq, present),
            hidden: req.hidden ? (outputs.last_hidden_state!.data as Float32Array) : undefined, // [batch, seq, n_embd]
          };
        }
      }
      if (!out) throw new Error('the last stage returned no logits');
      return out;
    });
    if (past) this.release(past); // the contract: the input cache is not used again
    return result;
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    const src = ownCache(cache, OrtKVCache);
    for (const r of rows) if (r < 0 || r >= src.batch) throw new RangeError(`row ${r} is outside the cache's ${src.batch} rows`);
    const tensors = new Map<string, Tensor>();
    const rowSize = this.nHead * src.length * this.headDim; // one row of [batch, n_head, length, head_dim]
    for (const [name, t] of src.tensors) {
      const data = t.data as Float32Array | Uint16Array;
      const copy = new (data.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(rows.length * rowSize);
      rows.forEach((r, i) => copy.set(data.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
      tensors.set(name, new this.rt.ort.Tensor(t.type as 'float32', copy, [rows.length, this.nHead, src.length, this.headDim]));
    }
    return new OrtKVCache(rows.length, src.length, tensors);
  }

  release(cache: KVCache): void {
    if (!(cache instanceof OrtKVCache) || cache.released) return;
    cache.released = true;
    for (const t of cache.tensors.values()) t.dispose();
    cache.tensors.clear();
  }

  /** Releases the sessions (their WASM memory stays reserved: WASM heaps never shrink). */
  async dispose(): Promise<void> {
    await this.mutex.run(async () => {
      for (const s of this.sessions) await s.release();
    });
  }

  private emptyPast(batch: number): Tensor {
    const data = this.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0);
    return new this.rt.ort.Tensor(this.kvType as 'float32', data as Float32Array, [batch, this.nHead, 0, this.headDim]);
  }

  private fetches(stage: Stage, hidden: boolean): string[] {
    return stage.outputs.filter((name) => name !== 'last_hidden_state' || hidden);
  }
}

/**
 * manifest → verified blobs → tokenizer + one ORT session per stage → LoadedModel.
 * Stages are fetched and turned into sessions one at a time, and each stage's JS bytes become garbage
 * as soon as its session holds them in the WASM heap: peak ≈ one copy of the weights + one stage.
 */
import type { InferenceSession } from 'onnxruntime-web';
import { StepScheduler, type SchedulerOptions } from '../generation/scheduler.ts';
import { stageBudget } from '../stage/budget.ts';
import { OnnxCausalLM } from './causal-lm.ts';
import { DenseSegment, DenseSegmentError, OrtSegment, type SegmentRunner } from './dense.ts';
import { HostCausalLM } from './host-lm.ts';
import type { HostWeights } from './host-parts.ts';
import { fetchBlobs, fetchManifest, totalBytes, type LoaderOptions } from './loader.ts';
import { graphOf, type BlobRef, type HostTensor, type KernelTensor, type Manifest, type ShardRef } from './manifest.ts';
import type { OrtRuntime } from './ort.ts';
import { createTokenizer } from './tokenizer.ts';
import { ModelLoadError, type BlobSource, type LoadedModel, type LoadProgress } from './types.ts';

export interface LoadModelOptions extends LoaderOptions {
  runtime: OrtRuntime;
  onProgress?: (p: LoadProgress) => void;
  /**
   * Continuous batching (generation/scheduler.ts) for host-attention models: concurrent requests share each
   * decode step. Without kvBudgetBytes the budget is what the isolate's 128 MB leaves after this model
   * (worker/stage/budget.ts). Absent: the bare model, one forward at a time (scripts and tests that look inside it).
   */
  batching?: SchedulerOptions;
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

export async function loadModel(source: BlobSource, id: string, opts: LoadModelOptions): Promise<LoadedModel> {
  const log = opts.log ?? console.log;
  const t0 = Date.now();
  const manifest = await fetchManifest(source, id, opts);
  const total = totalBytes(manifest);
  let loaded = 0;
  const progress = (phase: LoadProgress['phase'], stage?: number) =>
    opts.onProgress?.({ phase, loadedBytes: loaded, totalBytes: total, ...(stage === undefined ? {} : { stage }) });
  const onBytes = (n: number) => {
    loaded += n;
    progress('shards');
  };
  progress('manifest');
  log(`[model] ${id}: manifest ok, ${manifest.stages.length} stage(s), ${mb(total)} to fetch (${manifest.quantization.method})`);

  const [tokenizerBytes] = await fetchBlobs(source, [manifest.tokenizer], { ...opts, onBytes });
  let tokenizer;
  try {
    tokenizer = createTokenizer(JSON.parse(new TextDecoder().decode(tokenizerBytes)), manifest.config.eos_token_id);
  } catch (err) {
    throw new ModelLoadError('manifest_invalid', `${manifest.tokenizer.key} is not a usable tokenizer.json: ${(err as Error).message}`);
  }

  if (manifest.layout === 'host-attention') {
    const { lm: host, fetchMs, sessionMs } = await loadHost(source, manifest, opts, onBytes, progress, log);
    const lm = opts.batching ? batched(host, manifest, opts.batching, log) : host;
    progress('ready');
    log(
      `[model] ${id}: loaded in ${Date.now() - t0} ms (fetch+verify ${fetchMs} ms, sessions ${sessionMs} ms), ` +
        `${mb(total)} fetched, wasm heap ${mb(opts.runtime.heapBytes())} (ORT + kernels), host-attention`,
    );
    return { id, manifest, lm, tokenizer };
  }

  const sessions: InferenceSession[] = [];
  let fetchMs = 0;
  let sessionMs = 0;
  try {
    for (const [s, stage] of manifest.stages.entries()) {
      const tf = Date.now();
      const [graph, ...shards] = await fetchBlobs(source, [graphOf(stage), ...stage.shards], { ...opts, onBytes });
      fetchMs += Date.now() - tf;
      progress('session', s);
      const ts = Date.now();
      sessions.push(
        await createSession(
          opts.runtime,
          graph!,
          stage.shards.map((ref, j) => ({ path: ref.location, data: shards[j]! })),
          `stage ${s}`,
        ),
      );
      sessionMs += Date.now() - ts;
      log(`[model] ${id}: stage ${s} ready (layers ${stage.layers[0]}..${stage.layers[1] - 1}), wasm heap ${mb(opts.runtime.heapBytes())}`);
    }
  } catch (err) {
    await Promise.allSettled(sessions.map((x) => x.release()));
    throw err;
  }
  const lm = new OnnxCausalLM(opts.runtime, manifest, sessions);
  progress('ready');
  log(
    `[model] ${id}: loaded in ${Date.now() - t0} ms (fetch+verify ${fetchMs} ms, sessions ${sessionMs} ms), ` +
      `${mb(total)} fetched, wasm heap ${mb(opts.runtime.heapBytes())}`,
  );
  return { id, manifest, lm, tokenizer };
}

/** The model behind a step scheduler, its KV budget from the isolate's memory arithmetic unless configured. */
function batched(lm: HostCausalLM, manifest: Manifest, opts: SchedulerOptions, log: (line: string) => void): StepScheduler {
  const kvBudgetBytes = opts.kvBudgetBytes ?? stageBudget(manifest, { layers: [0, manifest.config.n_layer], ends: true }).kvBudgetBytes;
  log(`[model] ${manifest.id}: batching up to ${opts.maxBatchRows ?? 'default'} rows per step, KV budget ${mb(kvBudgetBytes)}`);
  // One lane: in one isolate two steps in flight would only take turns on the same thread.
  return new StepScheduler(lm, { ...opts, kvBudgetBytes, lanes: 1 });
}

/**
 * host-attention: the host tensors go into the kernels' memory first (their JS bytes dropped at once),
 * then one runner per segment (an ORT session, or a kernel segment placed in the kernels' memory), each fed
 * only its own shards; the next two segments' blobs are fetched while this one is set up, so the peak is
 * about three segments of JS bytes.
 */
async function loadHost(
  source: BlobSource,
  manifest: Manifest,
  opts: LoadModelOptions,
  onBytes: (n: number) => void,
  progress: (phase: LoadProgress['phase'], stage?: number) => void,
  log: (line: string) => void,
): Promise<{ lm: HostCausalLM; fetchMs: number; sessionMs: number }> {
  const kernels = opts.runtime.kernels?.();
  if (!kernels)
    throw new ModelLoadError('session_failed', `runtime ${opts.runtime.platform} has no host kernels for a host-attention model`);
  const L = manifest.config.n_layer;
  const part = await loadHostPart(
    source,
    manifest,
    { layers: [0, L], ends: true },
    { ...opts, onBytes, onSession: () => progress('session', 0) },
  );
  log(`[model] ${manifest.id}: ${L + 1} segments ready, kernels hold ${mb(kernels.liveBytes())}`);
  return {
    lm: new HostCausalLM(kernels, manifest, part.segments, part.weights!),
    fetchMs: part.fetchMs,
    sessionMs: part.sessionMs,
  };
}

/** What a part of a host-attention model needs: layers [first, end) and/or the tied embedding (the ends). */
export interface HostPartSpec {
  /** [first, end) with end > first, or null for the ends alone. */
  layers: [number, number] | null;
  ends: boolean;
}

/** One segment's blobs: an ORT graph and its shards, or a kernel segment's one shard and tensor table. */
type SegmentBlobs = { index: number; shards: ShardRef[] } & ({ graph: BlobRef } | { kernel: KernelTensor[] });

/** The blobs a part reads: the host tensors (ends), then per segment its graph and shards. */
function hostPartBlobs(manifest: Manifest, spec: HostPartSpec): { host: HostTensor[]; segments: SegmentBlobs[] } {
  const stage = manifest.stages[0]!;
  const segments = stage.segments;
  if (manifest.layout !== 'host-attention' || !segments || !manifest.host) {
    throw new ModelLoadError(
      'manifest_invalid',
      `model "${manifest.id}" is not in the host-attention layout; only that layout can be split into parts (re-convert with --attention host)`,
    );
  }
  const L = manifest.config.n_layer;
  const byLocation = new Map(stage.shards.map((s) => [s.location, s]));
  const indices: number[] = [];
  if (spec.layers) {
    const [first, end] = spec.layers;
    if (!(Number.isInteger(first) && Number.isInteger(end) && first >= 0 && end > first && end <= L)) {
      throw new ModelLoadError('manifest_invalid', `layers [${first}, ${end}) are not a part of model "${manifest.id}" (${L} layers)`);
    }
    for (let j = first; j < end; j++) indices.push(j);
    if (end === L) indices.push(L);
  }
  const host = manifest.host;
  return {
    host: spec.ends ? [host.wte, ...(host.wte_scale ? [host.wte_scale] : []), host.wpe] : [],
    segments: indices.map((j) => {
      const seg = segments[j]!;
      const shards = seg.shards.map((loc) => {
        const ref = byLocation.get(loc);
        if (!ref) throw new ModelLoadError('manifest_invalid', `segment ${j} reads shard ${loc}, which the stage does not list`);
        return ref;
      });
      return seg.kernel ? { index: j, kernel: seg.kernel, shards } : { index: j, graph: seg.graph!, shards };
    }),
  };
}

/**
 * Loads one part of a host-attention model with the same verified loader: the host tensors (when `ends`)
 * into the kernels' memory, then per segment of the part an ORT session (graph segments) or its tensors
 * in the kernels' memory (kernel segments: no ORT at all). `sessionMs` is the time spent turning fetched
 * segments into runners: session creation, or the copy into the kernels' memory.
 */
export async function loadHostPart(
  source: BlobSource,
  manifest: Manifest,
  spec: HostPartSpec,
  opts: LoadModelOptions & { onBytes?: (n: number) => void; onSession?: (segment: number) => void },
): Promise<{ segments: SegmentRunner[]; weights?: HostWeights; fetchMs: number; sessionMs: number }> {
  const kernels = opts.runtime.kernels?.();
  if (!kernels)
    throw new ModelLoadError('session_failed', `runtime ${opts.runtime.platform} has no host kernels for a host-attention model`);
  const blobs = hostPartBlobs(manifest, spec);
  const host = manifest.host!;
  const { vocab_size: V, n_embd: E, n_positions: P } = manifest.config;
  const expect = (name: string, t: HostTensor, dtype: HostTensor['dtype'], shape: number[]) => {
    const per = dtype === 'int8' ? 1 : 4;
    if (t.dtype !== dtype || t.shape.join() !== shape.join() || t.bytes !== per * shape.reduce((a, b) => a * b, 1)) {
      throw new ModelLoadError(
        'manifest_invalid',
        `host.${name} must be ${dtype} [${shape.join(', ')}], the manifest says ${t.dtype} [${t.shape.join(', ')}] in ${t.bytes} bytes`,
      );
    }
  };
  const int8 = host.wte.dtype === 'int8';
  expect('wte', host.wte, int8 ? 'int8' : 'float32', [V, E]);
  if (int8) {
    if (!host.wte_scale) throw new ModelLoadError('manifest_invalid', 'an int8 host.wte needs host.wte_scale');
    expect('wte_scale', host.wte_scale, 'float32', [V]);
  }
  expect('wpe', host.wpe, 'float32', [P, E]);
  const fetchOpts = { ...opts, ...(opts.onBytes ? { onBytes: opts.onBytes } : {}) };
  const ptrs: number[] = [];
  const place = (bytes: Uint8Array): number => {
    const ptr = kernels.alloc(bytes.byteLength);
    kernels.bytes(ptr, bytes.byteLength).set(bytes);
    ptrs.push(ptr);
    return ptr;
  };
  const runners: SegmentRunner[] = [];
  let fetchMs = 0;
  let sessionMs = 0;
  try {
    const segments = blobs.segments;
    const blobsOf = (i: number) => {
      const seg = segments[i]!;
      const graph = 'graph' in seg ? [seg.graph] : [];
      return fetchBlobs(source, [...graph, ...seg.shards], fetchOpts).then((got) => ({
        graph: 'graph' in seg ? got[0]! : null,
        external: seg.shards.map((ref, n) => ({ path: ref.location, data: got[graph.length + n]! })),
      }));
    };
    // The first segment is fetched along with the host tensors, then two segments ahead while a session
    // is created (graph + shard each: ≤ 5 reads in flight, within Workers' 6 simultaneous connections).
    // A failed prefetch is thrown when its turn comes.
    const ahead = new Map<number, ReturnType<typeof blobsOf>>();
    const want = (i: number) => {
      if (i >= segments.length || ahead.has(i)) return;
      const p = blobsOf(i);
      p.catch(() => {}); // handled when awaited in its turn; not an unhandled rejection before that
      ahead.set(i, p);
    };
    want(0);
    let weights: HostWeights | undefined;
    if (spec.ends) {
      const tf = Date.now();
      const got = await fetchBlobs(source, blobs.host, fetchOpts);
      fetchMs += Date.now() - tf;
      weights = { wte: place(got[0]!), ...(int8 ? { wteScale: place(got[1]!) } : {}), wpe: place(got.at(-1)!) };
      got.length = 0;
    }
    for (let i = 0; i < segments.length; i++) {
      want(i);
      const tw = Date.now();
      const cur = await ahead.get(i)!; // fetch time not hidden behind the previous sessions' creation
      ahead.delete(i);
      fetchMs += Date.now() - tw;
      want(i + 1);
      want(i + 2);
      const seg = segments[i]!;
      opts.onSession?.(seg.index);
      const ts = Date.now();
      if ('kernel' in seg) {
        const data = cur.external[0]!.data;
        cur.external.length = 0;
        const base = kernels.alloc(data.byteLength);
        kernels.bytes(base, data.byteLength).set(data);
        try {
          runners.push(new DenseSegment(kernels, manifest.config, seg.index, seg.kernel, base, data.byteLength));
        } catch (err) {
          kernels.free(base);
          if (err instanceof DenseSegmentError) throw new ModelLoadError('manifest_invalid', err.message);
          throw err;
        }
      } else {
        const session = await createSession(opts.runtime, cur.graph!, cur.external, `segment ${seg.index}`);
        runners.push(new OrtSegment(opts.runtime, session, E));
      }
      sessionMs += Date.now() - ts;
    }
    return { segments: runners, ...(weights ? { weights } : {}), fetchMs, sessionMs };
  } catch (err) {
    await Promise.allSettled(runners.map((x) => x.release()));
    for (const p of ptrs) kernels.free(p);
    throw err;
  }
}

async function createSession(
  rt: OrtRuntime,
  graph: Uint8Array,
  externalData: { path: string; data: Uint8Array }[],
  what: string,
): Promise<InferenceSession> {
  try {
    return await rt.ort.InferenceSession.create(graph, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      externalData,
    });
  } catch (err) {
    throw new ModelLoadError(
      'session_failed',
      `${what}: onnxruntime could not create a session: ${String((err as Error).message ?? err).slice(0, 200)}`,
    );
  }
}

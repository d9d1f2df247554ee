/**
 * The Worker's ModelProvider: one per isolate (module scope), keyed by the bucket binding, over R2
 * and the workerd build of onnxruntime-web, serving the ids of the validated config (worker/config.ts).
 * Importing this module pulls in ORT's 14 MB .wasm.
 */
import type { SchedulerOptions } from '../generation/scheduler.ts';
import type { StageClient } from '../stage/protocol.ts';
import { r2BlobSource } from './blobs.ts';
import { loadModel } from './load-model.ts';
import { workerdOrt } from './ort-workerd.ts';
import { createModelProvider, type FailureBackoff } from './registry.ts';
import { loadStagedModel, type StageHops } from './staged-lm.ts';
import { ModelLoadError, type ModelProvider } from './types.ts';

/** Which models are served: ServerConfig's modelIds, defaultModel and stagedModel. */
export interface ServedModels {
  ids: readonly string[];
  defaultId: string;
  /**
   * A model served by a pipeline of stage Workers (`npm run stages` writes the configs): its id, with one
   * Durable Object binding per stage, STAGE_0 … STAGE_<N-1> (the Stage class of each stage script).
   */
  staged?: { id: string; bindings: Record<string, unknown>; hops?: StageHops };
  /** Back-off after a failed load (ServerConfig's loadRetryBackoff; LOAD_RETRY_BACKOFF_MS). */
  failureBackoff?: FailureBackoff;
  /** Continuous batching of the served models (ServerConfig's batching); absent: one request per step. */
  batching?: SchedulerOptions;
}

/** The STAGE_<k> bindings of the gateway, in order, as stage clients (one object per stage script). */
function stageClientsFor(env: Record<string, unknown>, id: string): StageClient[] {
  const bindings = Object.entries(env)
    .map(([k, v]) => [/^STAGE_(\d+)$/.exec(k), v] as const)
    .filter(([m]) => m !== null)
    .sort(([a], [b]) => Number(a![1]) - Number(b![1]));
  if (bindings.length === 0)
    throw new ModelLoadError('manifest_invalid', `model "${id}" is staged (STAGED_MODEL) but the gateway has no STAGE_<k> bindings`);
  return bindings.map(([, ns]) => reconnecting(ns as DurableObjectNamespace, id));
}

/**
 * A stage client that takes a fresh stub for every call: a stub is an I/O object of the request that made
 * it (Workers refuse to use it from another request), and a stub whose object was reset keeps failing.
 * Order between calls is kept by StagedCausalLM (a select travels with the step that needs it).
 */
function reconnecting(ns: DurableObjectNamespace, id: string): StageClient {
  const stub = () => ns.get(ns.idFromName(id)) as unknown as StageClient;
  return {
    load: () => stub().load(),
    step: (req) => stub().step(req),
    head: (req) => stub().head(req),
    apply: (ops) => stub().apply(ops),
    stats: () => stub().stats(),
  };
}

const providers = new WeakMap<R2Bucket, ModelProvider>();

export function modelProviderFor(bucket: R2Bucket, served: ServedModels): ModelProvider {
  let provider = providers.get(bucket);
  if (!provider) {
    const source = r2BlobSource(bucket);
    const staged = served.staged;
    provider = createModelProvider({
      source,
      ids: served.ids,
      defaultId: served.defaultId,
      runtime: workerdOrt,
      ...(served.failureBackoff ? { failureBackoff: served.failureBackoff } : {}),
      load: (id, onProgress) =>
        id === staged?.id
          ? loadStagedModel(source, id, stageClientsFor(staged.bindings, id), {
              runtime: workerdOrt,
              ...(served.batching ? { batching: served.batching } : {}),
              ...(staged.hops ? { hops: staged.hops } : {}),
            })
          : loadModel(source, id, { runtime: workerdOrt(), onProgress, ...(served.batching ? { batching: served.batching } : {}) }),
    });
    providers.set(bucket, provider);
  }
  return provider;
}

/** Bytes of the WASM heap (0 until ORT has started); it never shrinks, so it is also the peak. */
export function wasmHeapBytes(): number {
  return workerdOrt().heapBytes();
}

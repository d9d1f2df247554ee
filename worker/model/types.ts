/**
 * What worker/model offers the rest of the Worker. Routes see only these types; onnxruntime-web stays
 * behind them.
 */
import type { CausalLM, TextTokenizer } from '../generation/types.ts';
import type { Manifest } from './manifest.ts';

export interface LoadProgress {
  phase: 'manifest' | 'shards' | 'session' | 'ready';
  /** Bytes fetched and verified so far, of totalBytes (graphs + shards + tokenizer). */
  loadedBytes: number;
  totalBytes: number;
  /** Stage whose session is being created (phase 'session'). */
  stage?: number;
}

export interface LoadedModel {
  id: string;
  manifest: Manifest;
  lm: CausalLM;
  tokenizer: TextTokenizer;
}

export type ModelState =
  | { state: 'unloaded' }
  | { state: 'loading'; progress: LoadProgress; startedAt: number }
  | { state: 'ready' }
  | { state: 'failed'; error: string; retryAt?: number };

/** Where blobs come from: R2 in the Worker, memory or disk in tests and scripts. */
export interface BlobSource {
  /** null when the key does not exist; throws on transient failures (the loader retries). */
  get(key: string): Promise<Uint8Array | null>;
}

export type ModelLoadErrorCode =
  'unknown_model' | 'manifest_missing' | 'manifest_invalid' | 'blob_missing' | 'blob_corrupt' | 'fetch_failed' | 'session_failed';

/** The model cannot be loaded; the message is safe to show to clients (no stack, no secrets). */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    readonly code: ModelLoadErrorCode,
    message: string,
    /** Set when the registry is backing off after this failure: ms until the next load is tried. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * The models this Worker serves. One instance per isolate (module scope): loads lazily on the first
 * `get`, shares one in-flight load between concurrent callers, and never caches a failed load.
 */
export interface ModelProvider {
  readonly ids: readonly string[];
  readonly defaultId: string;
  /** Resolves when the model is ready; `onProgress` sees load progress (for SSE keep-alive comments). */
  get(id: string, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel>;
  state(id: string): ModelState;
  /**
   * Only the manifest, without loading the model (the model page): the loaded model's when it is
   * ready, else one read through the loader's fetchManifest (retries, timeout, id check), shared by
   * concurrent callers and not kept after it settles (callers cache as they need).
   */
  manifest(id: string): Promise<Manifest>;
}

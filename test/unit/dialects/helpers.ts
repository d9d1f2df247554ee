/**
 * A fake ModelProvider over generation's FakeLM + FakeTokenizer, a test config, and small helpers to
 * drive the app in-process (`app.request`) and read SSE bodies. Reused by the client-library tests,
 * which take a `fetch` so they can also run against real workerd with a baseURL.
 */
import { createApp, type AppDeps } from '../../../worker/app.ts';
import type { ServerConfig } from '../../../worker/config.ts';
import type { Manifest } from '../../../worker/model/manifest.ts';
import type { LoadedModel, LoadProgress, ModelProvider, ModelState } from '../../../worker/model/types.ts';
import { ModelLoadError } from '../../../worker/model/types.ts';
import { FakeLM, FakeTokenizer, hashLogits } from '../generation/fakes.ts';

export const MODEL_ID = 'edge-gpt2-brown';

export function testConfig(over: Partial<ServerConfig> = {}): ServerConfig {
  return {
    defaultModel: MODEL_ID,
    modelIds: [MODEL_ID],
    limits: { maxNewTokens: 32, maxInputTokens: 48, maxTotalTokens: 64 },
    cpuBudgetMs: 60_000,
    corsOrigins: '*',
    apiKeys: [],
    maxBodyBytes: 64 * 1024,
    ...over,
  };
}

export function fakeManifest(id: string, tok: FakeTokenizer, nPositions: number): Manifest {
  const sha = '0'.repeat(64);
  return {
    format: 'edge-gpt2/manifest',
    version: 1,
    id,
    created_at: '2026-11-25T00:00:00Z',
    source: { name: 'fake', converter: 'test' },
    config: {
      architecture: 'gpt2',
      n_layer: 1,
      n_head: 1,
      n_embd: 8,
      n_positions: nPositions,
      vocab_size: tok.vocabSize,
      layer_norm_epsilon: 1e-5,
      bos_token_id: tok.eosTokenId,
      eos_token_id: tok.eosTokenId,
      parameters: 1000,
    },
    quantization: { method: 'int8' },
    kv_dtype: 'float32',
    tokenizer: { key: `blobs/${sha}`, bytes: 1, sha256: sha, format: 'hf-tokenizer-json' },
    stages: [{ layers: [0, 1], graph: { key: `blobs/${sha}`, bytes: 1, sha256: sha }, shards: [], inputs: [], outputs: [] }],
    memory: { weights_bytes: 0, wasm_heap_estimate_bytes: 0, kv_cache_bytes_per_token: 0 },
  };
}

export interface FakeProvider extends ModelProvider {
  lm: FakeLM;
  tokenizer: FakeTokenizer;
  loads: number;
  /** Makes the next load(s) fail with this error until cleared. */
  failWith: ModelLoadError | null;
  /** While set, loads wait for this promise (and report progress first). */
  gate: Promise<void> | null;
}

/** A provider that "loads" instantly (or behind `gate`), with the same lazy/shared/no-failure-cache rules as the real one. */
export function fakeProvider(
  opts: { ready?: boolean; nPositions?: number; beforeForward?: ConstructorParameters<typeof FakeLM>[2] } = {},
): FakeProvider {
  const tokenizer = new FakeTokenizer();
  const nPositions = opts.nPositions ?? 64;
  const lm = new FakeLM(readableLogits(tokenizer.vocabSize), { vocabSize: tokenizer.vocabSize, nPositions }, opts.beforeForward);
  const model: LoadedModel = { id: MODEL_ID, manifest: fakeManifest(MODEL_ID, tokenizer, nPositions), lm, tokenizer };
  let state: ModelState = opts.ready === false ? { state: 'unloaded' } : { state: 'ready' };
  let inFlight: Promise<LoadedModel> | null = null;
  const listeners = new Set<(p: LoadProgress) => void>();
  const p: FakeProvider = {
    ids: [MODEL_ID],
    defaultId: MODEL_ID,
    lm,
    tokenizer,
    loads: 0,
    failWith: null,
    gate: null,
    state: () => state,
    manifest: async () => model.manifest,
    async get(id, onProgress) {
      if (id !== MODEL_ID) throw new ModelLoadError('unknown_model', `unknown model ${id}`);
      if (state.state === 'ready') return model;
      if (onProgress) listeners.add(onProgress);
      inFlight ??= (async () => {
        p.loads++;
        const startedAt = Date.now();
        const progress = (loadedBytes: number): void => {
          const pr: LoadProgress = { phase: 'shards', loadedBytes, totalBytes: 35_100_000 };
          state = { state: 'loading', progress: pr, startedAt };
          for (const l of listeners) l(pr);
        };
        progress(0);
        await Promise.resolve();
        progress(12_300_000);
        if (p.gate) await p.gate;
        try {
          if (p.failWith) throw p.failWith;
          state = { state: 'ready' };
          return model;
        } catch (e) {
          state = { state: 'failed', error: (e as Error).message };
          throw e;
        } finally {
          inFlight = null;
        }
      })();
      try {
        return await inFlight;
      } finally {
        if (onProgress) listeners.delete(onProgress);
      }
    },
  };
  return p;
}

/** Hash logits, tilted towards lowercase letters, space and the ' world'/' the' merges: readable output. */
function readableLogits(vocabSize: number) {
  const base = hashLogits(vocabSize, 7, 2);
  return (history: readonly number[]) => {
    const out = base(history);
    for (let id = 97; id <= 122; id++) out[id]! += 5;
    out[32]! += 5;
    out[257]! += 5; // ' world'
    out[258]! += 5; // ' the'
    return out;
  };
}

export function makeApp(over: Partial<AppDeps> & { provider?: FakeProvider } = {}) {
  const provider = over.provider ?? fakeProvider();
  const app = createApp({ models: provider, config: over.config ?? testConfig(), ...over });
  return { app, provider };
}

export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

/** `data:` payloads of an SSE body, parsed as JSON where possible, plus the raw comments. */
export function parseSSE(text: string): { data: string[]; comments: string[] } {
  const data: string[] = [];
  const comments: string[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.length > 0);
    const d = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
    if (d.length > 0) data.push(d.join('\n'));
    for (const l of lines) if (l.startsWith(': ')) comments.push(l.slice(2));
  }
  return { data, comments };
}

/**
 * The Worker's real app (routes, auth, SSE, page) over a fake model, for browser tests that need
 * control the real model cannot give: a visible loading phase with progress, a known step delay, and
 * a count of forward passes (to prove that Stop makes the *server* stop generating).
 */
import { createApp } from '../../../worker/app.ts';
import { parseConfig } from '../../../worker/config.ts';
import { createModelProvider, memoryBlobSource, ModelLoadError, type LoadedModel } from '../../../worker/model/index.ts';
import { modelPages, pageConfigFrom } from '../../../worker/page/index.ts';
import { FakeLM, FakeTokenizer, hashLogits } from '../../unit/generation/fakes.ts';
import { fixtureManifest } from '../../unit/page/fixture.ts';

export interface FakeAppOptions {
  /** Delay of every forward pass (ms): tokens arrive one by one, like a real model's. */
  stepDelayMs: number;
  /** The first load reports this many progress steps, one per `loadStepMs`. */
  loadSteps: number;
  loadStepMs: number;
  apiKeys?: string;
  /** Every load fails with this ModelLoadError message (after its progress steps). */
  loadError?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function fakeModelApp(opts: FakeAppOptions) {
  const tokenizer = new FakeTokenizer();
  const counters = { forwards: 0, loads: 0 };
  const lm = new FakeLM(hashLogits(tokenizer.vocabSize), { vocabSize: tokenizer.vocabSize, nPositions: 512 }, async () => {
    counters.forwards++;
    await sleep(opts.stepDelayMs);
  });
  const manifest = fixtureManifest();
  const ids = [manifest.id];
  const models = createModelProvider({
    source: memoryBlobSource(),
    ids,
    defaultId: manifest.id,
    runtime: () => {
      throw new Error('the fake app never creates an ORT runtime');
    },
    load: async (id, onProgress): Promise<LoadedModel> => {
      counters.loads++;
      const total = 35_100_000;
      for (let i = 0; i <= opts.loadSteps; i++) {
        onProgress({ phase: 'shards', loadedBytes: Math.round((total * i) / opts.loadSteps), totalBytes: total });
        await sleep(opts.loadStepMs);
      }
      if (opts.loadError) throw new ModelLoadError('blob_corrupt', opts.loadError);
      onProgress({ phase: 'ready', loadedBytes: total, totalBytes: total });
      return { id, manifest, lm, tokenizer };
    },
  });
  const config = parseConfig({
    DEFAULT_MODEL: manifest.id,
    MAX_NEW_TOKENS: '256',
    MAX_INPUT_TOKENS: '256',
    MAX_TOTAL_TOKENS: '512',
    CPU_BUDGET_MS: '60000',
    ...(opts.apiKeys ? { API_KEYS: opts.apiKeys } : {}),
  });
  const pages = modelPages({ models, config: pageConfigFrom(config), manifest: async () => manifest });
  return { app: createApp({ models, config, pages }), counters };
}

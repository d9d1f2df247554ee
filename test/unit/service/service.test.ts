/**
 * The service core on its own (no HTTP): name resolution with aliases, domain errors instead of the
 * layers' own, the prompt rules every dialect shares (empty → BOS, token-id range, truncation, budget),
 * the facts a served model exposes, and the provider's manifest reader.
 */
import { describe, expect, it } from 'vitest';
import { checkBudget, generate } from '../../../worker/generation/index.ts';
import { GenerationError } from '../../../worker/generation/errors.ts';
import { memoryBlobSource } from '../../../worker/model/blobs.ts';
import { manifestKey } from '../../../worker/model/manifest.ts';
import { createModelProvider } from '../../../worker/model/registry.ts';
import { ModelLoadError, type LoadedModel } from '../../../worker/model/types.ts';
import { ServiceError } from '../../../worker/service/errors.ts';
import { modelFacts } from '../../../worker/service/facts.ts';
import { baseParams } from '../../../worker/service/params.ts';
import { createService, type GenerateFn } from '../../../worker/service/service.ts';
import { fakeManifest, fakeProvider, MODEL_ID, testConfig } from '../dialects/helpers.ts';

const params = (maxNewTokens: number) => ({ ...baseParams(60_000), maxNewTokens });

function setup(over: { generate?: GenerateFn; aliases?: Map<string, string> } = {}) {
  const provider = fakeProvider();
  const config = testConfig(over.aliases ? { modelAliases: over.aliases } : {});
  const service = createService({ models: provider, config, generate: over.generate ?? generate, checkBudget });
  return { service, provider };
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<ServiceError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(ServiceError);
    return e as ServiceError;
  }
  throw new Error('expected a ServiceError');
}

describe('service: models', () => {
  it('resolves ids, aliases and the default; an unknown name is not_found listing the served ids', async () => {
    const { service } = setup({ aliases: new Map([['gpt2', MODEL_ID]]) });
    expect(service.resolve(undefined)).toBe(MODEL_ID);
    expect(service.resolve('gpt2')).toBe(MODEL_ID);
    expect(service.lookup('nope')).toBeUndefined();
    const e = await rejection(() => service.resolve('nope'));
    expect(e.code).toBe('not_found');
    expect(e.details).toEqual({ reason: 'model_not_found', param: 'model', extra: { models: [MODEL_ID] } });
  });

  it('a model that cannot be loaded is `unavailable` with the loader reason', async () => {
    const { service, provider } = setup();
    const failing = fakeProvider({ ready: false });
    failing.failWith = new ModelLoadError('blob_corrupt', 'blobs/x fails its SHA-256 check');
    const s2 = createService({ models: failing, config: testConfig(), generate, checkBudget });
    const e = await rejection(s2.load(MODEL_ID));
    expect(e.code).toBe('unavailable');
    expect(e.message).toBe('model could not be loaded: blobs/x fails its SHA-256 check');
    expect(e.details.reason).toBe('blob_corrupt');
    expect((await service.load(MODEL_ID)).lm).toBe(provider.lm);
  });

  it('exposes facts, not the manifest', async () => {
    const { service, provider } = setup();
    const model = await service.load(MODEL_ID);
    expect(model).not.toHaveProperty('manifest');
    expect(model.facts).toMatchObject({
      nPositions: 64,
      nEmbd: 8,
      vocabSize: provider.tokenizer.vocabSize,
      quantization: 'int8',
      hiddenStates: false,
    });
    expect(model.facts.fingerprint).toBe('fp_0000000000');
    const m = fakeManifest(MODEL_ID, provider.tokenizer, 128);
    m.stages[0]!.outputs.push('last_hidden_state');
    expect(modelFacts(m)).toMatchObject({ nPositions: 128, hiddenStates: true });
  });
});

describe('service: prepare', () => {
  it('conditions an empty prompt on BOS, once, for text and for ids', async () => {
    const { service, provider } = setup();
    const model = await service.load(MODEL_ID);
    expect(service.prepare(model, '', params(2)).promptIds).toEqual([provider.tokenizer.eosTokenId]);
    expect(service.prepare(model, [], params(2)).promptIds).toEqual([provider.tokenizer.eosTokenId]);
    expect(service.prepareInput(model, [], null, 'input')).toEqual([provider.tokenizer.eosTokenId]);
  });

  it('checks token ids against the vocabulary, naming the field', async () => {
    const { service, provider } = setup();
    const model = await service.load(MODEL_ID);
    const v = provider.tokenizer.vocabSize;
    const a = await rejection(() => service.prepare(model, [1, v], params(1)));
    expect([a.code, a.message, a.details.param]).toEqual([
      'validation',
      `prompt token id ${v} is out of range (vocabulary size ${v})`,
      'prompt',
    ]);
    const b = await rejection(() => service.prepareInput(model, [v + 3], null, 'input[1]'));
    expect([b.code, b.message, b.details.param]).toEqual([
      'validation',
      `input[1] has token id ${v + 3}, out of range (vocabulary size ${v})`,
      'input[1]',
    ]);
  });

  it('truncates when asked (TGI keeps the last tokens; TEI either end), else refuses over the limit', async () => {
    const { service } = setup();
    const model = await service.load(MODEL_ID);
    const ids = Array.from({ length: 60 }, (_, i) => 97 + (i % 26));
    expect(service.prepare(model, ids, params(2), 5).promptIds).toEqual(ids.slice(55));
    expect(service.prepareInput(model, ids, 'right', 'inputs')).toEqual(ids.slice(0, 48));
    expect(service.prepareInput(model, ids, 'left', 'inputs')).toEqual(ids.slice(12));
    const e = await rejection(() => service.prepare(model, ids, params(2)));
    expect([e.code, e.details.param, e.details.reason]).toEqual(['over_limit', 'max_input_tokens', 'context_length_exceeded']);
    const f = await rejection(() => service.prepareInput(model, ids, null, 'inputs[0]'));
    expect(f.message).toMatch(/^inputs\[0\]: input is 60 tokens/);
    expect(f.details.param).toBe('inputs[0]');
  });

  it('run: generation failures arrive as ServiceErrors', async () => {
    // eslint-disable-next-line require-yield -- a generator that fails before its first event
    const broken: GenerateFn = async function* () {
      throw new GenerationError('model_output', 'NaN logits');
    };
    const { service } = setup({ generate: broken });
    const model = await service.load(MODEL_ID);
    const events = service.run(service.prepare(model, 'Hi', params(2)), params(2));
    const e = await rejection(events.next());
    expect([e.code, e.message]).toEqual(['failed', 'generation failed: the model returned invalid output']);
  });

  it('embed refuses a model without hidden states as unsupported', async () => {
    const { service } = setup();
    const model = await service.load(MODEL_ID);
    const e = await rejection(service.embed(model, [[1, 2]], new AbortController().signal, 'input'));
    expect([e.code, e.details.reason]).toEqual(['unsupported', 'model_not_supported']);
  });
});

describe('ModelProvider.manifest: the one manifest reader', () => {
  it('reads without loading (shared while in flight, id checked), and gives the loaded model its own', async () => {
    const tok = fakeProvider().tokenizer;
    const m = fakeManifest('a', tok, 32);
    const source = memoryBlobSource([[manifestKey('a'), new TextEncoder().encode(JSON.stringify(m))]]);
    let loads = 0;
    const loaded = { id: 'a', manifest: { ...m, created_at: 'loaded' } } as LoadedModel;
    const models = createModelProvider({
      source,
      ids: ['a'],
      defaultId: 'a',
      runtime: () => {
        throw new Error('no runtime');
      },
      load: async () => (loads++, loaded),
    });
    const [x, y] = await Promise.all([models.manifest('a'), models.manifest('a')]);
    expect(x).toEqual(m);
    expect(y).toBe(x);
    expect(source.gets.get(manifestKey('a'))).toBe(1);
    expect(models.state('a')).toEqual({ state: 'unloaded' });
    await expect(models.manifest('b')).rejects.toMatchObject({ code: 'unknown_model' });
    await models.get('a');
    expect(await models.manifest('a')).toBe(loaded.manifest);
    expect(loads).toBe(1);
  });
});

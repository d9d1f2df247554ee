/** A fixed, valid manifest for page tests (numbers of a GPT-2-small-shaped int8 model). */
import { MANIFEST_FORMAT, MANIFEST_VERSION, parseManifest, type Manifest } from '../../../worker/model/manifest.ts';
import type { LoadedModel, ModelProvider, ModelState } from '../../../worker/model/types.ts';

const sha = (c: string): string => c.repeat(64);

export function fixtureManifest(card: Record<string, unknown> | undefined = defaultCard()): Manifest {
  return parseManifest({
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    id: 'edge-gpt2-brown',
    created_at: '2026-11-25T12:00:00Z',
    source: { name: 'checkpoints/edge-gpt2-brown', converter: 'edge-gpt2 convert 0.1.0' },
    config: {
      architecture: 'gpt2',
      n_layer: 6,
      n_head: 8,
      n_embd: 512,
      n_positions: 512,
      vocab_size: 50257,
      layer_norm_epsilon: 1e-5,
      bos_token_id: 50256,
      eos_token_id: 50256,
      parameters: 44_900_352,
    },
    quantization: { method: 'int8' },
    kv_dtype: 'float32',
    tokenizer: { key: `blobs/${sha('c')}`, bytes: 2_112_000, sha256: sha('c'), format: 'hf-tokenizer-json' },
    stages: [
      {
        layers: [0, 6],
        graph: { key: `blobs/${sha('a')}`, bytes: 150_000, sha256: sha('a') },
        shards: [
          { key: `blobs/${sha('1')}`, bytes: 30_000_000, sha256: sha('1'), location: 'shard-0.bin' },
          { key: `blobs/${sha('2')}`, bytes: 15_500_000, sha256: sha('2'), location: 'shard-1.bin' },
        ],
        inputs: ['input_ids'],
        outputs: ['logits'],
      },
    ],
    memory: { weights_bytes: 45_500_000, wasm_heap_estimate_bytes: 90_000_000, kv_cache_bytes_per_token: 24_576 },
    card,
  });
}

function defaultCard(): Record<string, unknown> {
  return {
    description: 'A small GPT-2 trained on the Brown corpus <b>for tests</b> & demos',
    training: '6 layers, 1 h on 2 CPU cores',
    license: 'MIT',
    eval: [
      { dataset: 'brown-val', ppl: 123.456789, bpb: 1.5 },
      { dataset: 'wikitext2', ppl: 456.7 },
    ],
  };
}

/** A provider that records get() calls; its state is whatever the test sets. */
export function fakeProvider(manifest: Manifest, ids = ['edge-gpt2-brown', 'other-model']) {
  const calls: string[] = [];
  let state: ModelState = { state: 'unloaded' };
  const provider: ModelProvider = {
    ids,
    defaultId: ids[0]!,
    async get(id) {
      calls.push(id);
      return { id, manifest, lm: undefined as never, tokenizer: undefined as never } satisfies LoadedModel;
    },
    state: () => state,
    manifest: async () => manifest,
  };
  return { provider, calls, setState: (s: ModelState) => void (state = s) };
}

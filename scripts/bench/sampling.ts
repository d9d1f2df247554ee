/**
 * Per-token cost of the generation core on GPT-2-wide rows (50,257 logits), without a model:
 * `npx tsx scripts/bench/sampling.ts`. Prints ms per token for each parameter set, so
 * it can be compared with the model's forward time (tens of ms per token in the WASM build).
 */
import { defaultParams, Rng, type GenerationParams } from '../../worker/generation/index.ts';
import { createWorkspace, Sequence } from '../../worker/generation/sequence.ts';
import { FakeTokenizer, hashLogits } from '../../test/unit/generation/fakes.ts';
import { useExpSum } from '../../worker/generation/logits.ts';
import { nodeExpSum } from '../../worker/kernels/node.ts';

useExpSum(nodeExpSum()); // sampling's softmax on the kernels, as the Worker does (worker/index.ts)

const V = 50257;
const tok = new FakeTokenizer(); // token text is not on the measured path except for top alternatives
const rows = Array.from({ length: 16 }, (_, i) => hashLogits(V, i, 6)([i]));
const cases: [string, Partial<GenerationParams>][] = [
  ['greedy', {}],
  ['greedy + penalties + logprobs(5)', { repetitionPenalty: 1.2, frequencyPenalty: 0.5, topLogprobs: 5 }],
  ['sample T=0.8', { doSample: true, temperature: 0.8 }],
  ['sample top_k=50', { doSample: true, topK: 50 }],
  ['sample top_p=0.9', { doSample: true, topP: 0.9 }],
  ['sample top_k=50 top_p=0.95', { doSample: true, topK: 50, topP: 0.95 }],
  ['sample typical_p=0.9', { doSample: true, typicalP: 0.9 }],
];
const ws = createWorkspace(V);
for (const [name, p] of cases) {
  const params: GenerationParams = { ...defaultParams(), ...p, maxNewTokens: 1e9 };
  const seq = new Sequence(
    0,
    params,
    { ...tok, vocabSize: V, decode: () => '', isSpecial: () => false } as never,
    Rng.forSequence(1, 0),
    [],
  );
  const n = 60;
  for (let i = 0; i < 5; i++) seq.pick(rows[i % rows.length]!, ws); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) seq.pick(rows[i % rows.length]!, ws);
  console.log(`${name.padEnd(34)} ${((performance.now() - t0) / n).toFixed(2)} ms/token`);
}

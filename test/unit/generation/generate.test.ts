import { describe, expect, it } from 'vitest';
import { defaultParams, generate, type GenerationEvent, type GenerationParams } from '../../../worker/generation/index.ts';
import { collect, FakeLM, FakeTokenizer, hashLogits, scriptedLogits } from './fakes.ts';

const tok = new FakeTokenizer();
const V = tok.vocabSize;
const params = (p: Partial<GenerationParams> = {}): GenerationParams => ({ ...defaultParams(), ...p });
const tokens = (events: GenerationEvent[], sequence = 0) =>
  events.flatMap((e) => (e.type === 'token' && e.sequence === sequence ? [e] : []));
const dones = (events: GenerationEvent[]) => events.flatMap((e) => (e.type === 'done' ? [e] : []));

/** Reference greedy path computed straight from the logits function, without the loop. */
function greedyPath(logits: (h: readonly number[]) => Float32Array, prompt: number[], n: number): number[] {
  const h = [...prompt];
  for (let i = 0; i < n; i++) {
    const row = logits(h);
    let best = 0;
    for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
    h.push(best);
  }
  return h.slice(prompt.length);
}

describe('generate', () => {
  it('greedy follows the argmax path and releases its cache', async () => {
    const logits = hashLogits(V, 3);
    const lm = new FakeLM(logits, { vocabSize: V, eosTokenId: -1 });
    const prompt = tok.encode('Hello world');
    const events = await collect(generate(lm, tok, prompt, params({ maxNewTokens: 12, stopOnEos: false })));
    const ids = tokens(events).map((e) => e.id);
    expect(ids).toEqual(greedyPath(logits, prompt, 12));
    expect(dones(events)).toEqual([
      { type: 'done', sequence: 0, finishReason: 'length', generatedTokens: 12, text: tok.decode(ids.filter((i) => i !== tok.eosTokenId)) },
    ]);
    expect(lm.stats.forwards).toHaveLength(12); // prefill + 11 decode steps: the last token is never fed
    expect(lm.liveCaches).toBe(0);
  });

  it('stops at EOS with finish reason eos_token and no EOS text', async () => {
    const eos = tok.eosTokenId;
    const lm = new FakeLM(scriptedLogits(V, (h) => (h.length >= 5 ? eos : 72)), { vocabSize: V });
    const events = await collect(generate(lm, tok, [72, 72], params({ maxNewTokens: 10 })));
    expect(tokens(events).map((e) => e.id)).toEqual([72, 72, 72, eos]);
    expect(tokens(events).at(-1)).toMatchObject({ special: true, text: '' });
    expect(dones(events)).toEqual([{ type: 'done', sequence: 0, finishReason: 'eos_token', generatedTokens: 4, text: 'HHH' }]);
    expect(lm.liveCaches).toBe(0);
  });
});

/**
 * Continuous batching keeps every request's answer bit-identical (issue 14): eight mixed requests —
 * three dialects, streamed or not, greedy and seeded sampling, stops, several sequences, logprobs,
 * prompts of different lengths — each answered alone, then together in batches of 2, 5 and 8 through
 * the whole Worker (SELF). Tokens, texts and logprobs must be equal as JSON (the float logprobs to the
 * last bit), and /health must show that the steps really were shared. Feature extraction likewise.
 * Runs after worker-http.cases.ts has seeded the bucket with the bundled model.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

const ID = 'edge-gpt2-brown';

interface Call {
  name: string;
  path: string;
  body: unknown;
  stream?: boolean;
}

const LONG = 'It was a bright cold day in April, and the clocks were striking thirteen. '.repeat(4);

const CALLS: Call[] = [
  {
    name: 'tgi greedy',
    path: '/generate',
    body: { inputs: 'The jury said that the city was', parameters: { max_new_tokens: 12, details: true } },
  },
  {
    name: 'tgi sampled + stop',
    path: '/generate',
    body: {
      inputs: 'He said',
      parameters: { max_new_tokens: 16, do_sample: true, seed: 7, temperature: 0.8, top_k: 30, stop: ['.'], details: true },
    },
  },
  {
    name: 'tgi stream top_p',
    path: '/generate_stream',
    stream: true,
    body: { inputs: 'In the morning', parameters: { max_new_tokens: 10, do_sample: true, seed: 99, top_p: 0.9 } },
  },
  {
    name: 'hf two sequences',
    path: `/models/${ID}`,
    body: {
      inputs: 'The committee',
      parameters: { max_new_tokens: 14, do_sample: true, seed: 5, num_return_sequences: 2, return_full_text: false },
    },
  },
  {
    name: 'openai logprobs',
    path: '/v1/completions',
    body: { model: ID, prompt: 'Once upon a time', max_tokens: 12, temperature: 1, seed: 3, logprobs: 2 },
  },
  {
    name: 'openai stream n=2',
    path: '/v1/completions',
    stream: true,
    body: { model: ID, prompt: 'The weather', max_tokens: 9, temperature: 0.7, seed: 11, n: 2, stream: true, logprobs: 1 },
  },
  { name: 'tgi long prompt', path: '/generate', body: { inputs: LONG, parameters: { max_new_tokens: 8, details: true } } },
  {
    name: 'hf repetition penalty',
    path: `/models/${ID}`,
    body: {
      inputs: 'She walked into the room and',
      parameters: { max_new_tokens: 15, do_sample: true, seed: 42, repetition_penalty: 1.3 },
    },
  },
];

/** What must not differ: the answer without its per-call identity (OpenAI's id and created). */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'id' && k !== 'created')
        .map(([k, v]) => [k, normalize(v)]),
    );
  }
  return value;
}

async function answer(call: Call): Promise<string> {
  const res = await SELF.fetch(`http://worker${call.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(call.body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${call.name}: ${res.status} ${text}`);
  if (!call.stream) return JSON.stringify(normalize(JSON.parse(text)));
  const events = [...text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]!).filter((d) => d !== '[DONE]');
  return JSON.stringify(events.map((d) => normalize(JSON.parse(d))));
}

interface Batching {
  steps: number;
  rows: number;
  maxRows: number;
}

async function batching(): Promise<Batching> {
  const health = (await (await SELF.fetch('http://worker/health')).json()) as { models: Record<string, { batching?: Batching }> };
  const b = health.models[ID]?.batching;
  if (!b) throw new Error('the model does not report batching (MAX_BATCH_ROWS unset?)');
  return b;
}

/** Called from bundled.test.ts after the Worker's bucket has been seeded. */
export function batchInvarianceCases(): void {
  describe('continuous batching in workerd: answers alone equal answers batched', () => {
    const alone = new Map<string, string>();

    it('answers each request alone', async () => {
      for (const call of CALLS) alone.set(call.name, await answer(call));
      expect(new Set(alone.values()).size).toBe(CALLS.length);
    });

    for (const size of [2, 5, 8]) {
      it(`the same requests in batches of ${size} give bit-identical answers, and steps were shared`, async () => {
        const before = await batching();
        for (let start = 0; start < CALLS.length; start += size) {
          const group = CALLS.slice(start, start + size);
          const got = await Promise.all(group.map(answer));
          group.forEach((call, i) => expect(got[i], call.name).toBe(alone.get(call.name)));
        }
        const after = await batching();
        const meanRows = (after.rows - before.rows) / (after.steps - before.steps);
        console.log(
          `[batching] groups of ${size}: ${after.steps - before.steps} steps, ${meanRows.toFixed(2)} rows/step, max ${after.maxRows}`,
        );
        expect(meanRows).toBeGreaterThan(1.3);
      });
    }

    it('feature extraction of an input is the same alone and beside running generations', async () => {
      const features = async () => {
        const res = await SELF.fetch(`http://worker/pipeline/feature-extraction/${ID}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: ['The city was', LONG] }),
        });
        expect(res.status).toBe(200);
        return res.text();
      };
      const solo = await features();
      const [, beside] = await Promise.all([answer(CALLS[0]!), features(), answer(CALLS[4]!), answer(CALLS[5]!)]);
      expect(beside).toBe(solo);
    });
  });
}

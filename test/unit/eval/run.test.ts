import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEvalArgs } from '../../../scripts/eval/args.ts';
import { runEval } from '../../../scripts/eval/run.ts';
import { gpt2Tokenizer } from '../../../scripts/eval/tokens.ts';
import { bigramLogprob, fakeServer } from './fake-server.ts';

const TEXT =
  'The quick brown fox jumps over the lazy dog. Naïve cafés serve crème brûlée — “quoted” text 🙂.\n\n' +
  'A second paragraph, with digits 1,024 and 3.14159, keeps the stream going for a few more windows.';

function textFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'eval-'));
  const p = join(dir, 't.txt');
  writeFileSync(p, text);
  return p;
}

/** The bigram model's exact NLL over positions i of `ids` for which `counted(i)` holds. */
function oracle(ids: number[], counted: (i: number) => boolean) {
  const tok = gpt2Tokenizer();
  let nll = 0;
  let n = 0;
  let bytes = 0;
  for (let i = 1; i < ids.length; i++) {
    if (!counted(i)) continue;
    nll -= bigramLogprob(ids[i - 1]!, ids[i]!);
    n += 1;
    bytes += tok.byteLength(ids[i]!);
  }
  return { nll, n, bytes, ppl: Math.exp(nll / n) };
}

describe('runEval (perplexity) against a fake server', () => {
  const ids = gpt2Tokenizer().encode(TEXT);
  const file = textFile(TEXT);
  const args = (extra: string[]) => parseEvalArgs(['--url', 'http://fake', '--dataset', 'file', '--file', file, '--no-progress', ...extra]);

  it('default context = n_positions, stride = context/2: every token but the first scored once', async () => {
    const s = fakeServer();
    const r = await runEval(args([]), { fetch: s.fetch });
    expect(r.kind).toBe('perplexity');
    if (r.kind !== 'perplexity') return;
    const want = oracle(ids, () => true);
    expect(r.context).toBe(16);
    expect(r.stride).toBe(8);
    expect(r.tokens_scored).toBe(ids.length - 1);
    expect(r.bytes_scored).toBe(want.bytes);
    expect(Buffer.byteLength(TEXT) - r.bytes_scored).toBe(gpt2Tokenizer().byteLength(ids[0]!));
    expect(r.perplexity).toBeCloseTo(want.ppl, 10);
    expect(r.bits_per_byte).toBeCloseTo(want.nll / Math.LN2 / want.bytes, 12);
    expect(r.model).toBe('fake');
    expect(r.quantization).toBe('int8');
    // Every request is a window of the stream, at most `context` long, sent as token ids.
    for (const p of s.prompts) expect(p.length).toBeLessThanOrEqual(16);
    expect(s.requests.every((b) => b.echo === true && b.max_tokens === 0 && b.logprobs === 0)).toBe(true);
  });

  it('stride = context: the first token of every window is not counted', async () => {
    const s = fakeServer();
    const r = await runEval(args(['--context', '10', '--stride', '10']), { fetch: s.fetch });
    if (r.kind !== 'perplexity') throw new Error('kind');
    const want = oracle(ids, (i) => i % 10 !== 0);
    expect(r.tokens_scored).toBe(want.n);
    expect(r.perplexity).toBeCloseTo(want.ppl, 10);
  });

  it('the result does not depend on concurrency; 503s are retried', async () => {
    const a = await runEval(args(['--context', '8', '--stride', '3']), { fetch: fakeServer().fetch });
    const b = await runEval(args(['--context', '8', '--stride', '3', '--concurrency', '4']), {
      fetch: fakeServer({ fail503: 2 }).fetch,
      backoffMs: 0,
    });
    if (a.kind !== 'perplexity' || b.kind !== 'perplexity') throw new Error('kind');
    expect(b.nll_nats).toBe(a.nll_nats);
    expect(b.windows).toBe(a.windows);
  });

  it('caps the default context at the server prompt limit and warns; rejects a longer --context', async () => {
    const info = { model_id: 'fake', n_positions: 32, max_input_tokens: 12, max_total_tokens: 32 };
    const warnings: string[] = [];
    const r = await runEval(args([]), { fetch: fakeServer({ info }).fetch, warn: (m) => warnings.push(m) });
    if (r.kind !== 'perplexity') throw new Error('kind');
    expect(r.context).toBe(12);
    expect(warnings.join()).toMatch(/capped at 12/);
    await expect(runEval(args(['--context', '20']), { fetch: fakeServer({ info }).fetch })).rejects.toMatchObject({
      code: 'context_too_long',
    });
  });

  it('--max-tokens evaluates a prefix of the stream', async () => {
    const r = await runEval(args(['--max-tokens', '20']), { fetch: fakeServer().fetch });
    if (r.kind !== 'perplexity') throw new Error('kind');
    expect(r.tokens_scored).toBe(19);
    expect(r.subset).toBe(20);
  });

  it('fails with a code when the server tokenizes differently, warns when it cannot tell', async () => {
    const bad = fakeServer();
    const wrongTokenizer: typeof bad.fetch = async (url, init) =>
      new URL(url).pathname === '/tokenize' ? new Response(JSON.stringify([{ id: 1 }])) : bad.fetch(url, init);
    await expect(runEval(args([]), { fetch: wrongTokenizer })).rejects.toMatchObject({ code: 'tokenizer_mismatch' });
    const warnings: string[] = [];
    await runEval(args([]), { fetch: fakeServer({ noTokenize: true }).fetch, warn: (m) => warnings.push(m) });
    expect(warnings.join()).toMatch(/tokenize/);
  });

  it('a missing WikiText-2 file names where to get it', async () => {
    const o = parseEvalArgs(['--url', 'http://fake', '--file', '/nonexistent/wiki.test.raw', '--no-progress']);
    await expect(runEval(o, { fetch: fakeServer().fetch })).rejects.toMatchObject({
      code: 'dataset_missing',
      message: expect.stringMatching(/wikitext-2-raw-v1/),
    });
  });

  it('a WikiText-2 file with the wrong SHA-256 is refused', async () => {
    const o = parseEvalArgs(['--url', 'http://fake', '--file', file, '--no-progress']);
    await expect(runEval(o, { fetch: fakeServer().fetch })).rejects.toMatchObject({ code: 'dataset_sha_mismatch' });
  });
});

describe('runEval (lambada) against a fake server', () => {
  it('accuracy by greedy text equality, perplexity of the target word from its logprobs', async () => {
    const tok = gpt2Tokenizer();
    const lines = [
      { text: 'He opened the door and saw his old friend Harry' },
      { text: 'She poured the tea into the cup' },
      { text: 'They rode the bus to the station' },
    ];
    const file = textFile(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    // The fake gets the first passage right, the second wrong, the third stops early (EOS).
    const greedy = (ids: number[]) => {
      const ctx = tok.decode(ids);
      return ctx.endsWith('friend') ? ' Harry' : ctx.endsWith('the') && ctx.includes('tea') ? ' pot' : '';
    };
    const r = await runEval(parseEvalArgs(['--url', 'http://fake', '--dataset', 'lambada', '--file', file, '--no-progress']), {
      fetch: fakeServer({ greedy }).fetch,
    });
    if (r.kind !== 'lambada') throw new Error('kind');
    expect(r.examples).toBe(3);
    expect(r.accuracy).toBeCloseTo(1 / 3, 12);
    let nll = 0;
    for (const { text } of lines) {
      const cut = text.lastIndexOf(' ');
      const ctx = tok.encode(text.slice(0, cut));
      const tgt = tok.encode(text.slice(cut));
      const all = [...ctx, ...tgt];
      for (let i = ctx.length; i < all.length; i++) nll -= bigramLogprob(all[i - 1]!, all[i]!);
    }
    expect(r.perplexity).toBeCloseTo(Math.exp(nll / 3), 10);
  });
});

describe('client errors', () => {
  it('a 401 says how to pass a key; a non-retryable 400 is not retried', async () => {
    const { createClient } = await import('../../../scripts/eval/client.ts');
    let calls = 0;
    const c = createClient({
      baseUrl: 'http://x/',
      backoffMs: 0,
      fetch: async (url) => {
        calls += 1;
        return new URL(url).pathname === '/info'
          ? new Response(JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }), {
              status: 401,
            })
          : new Response(JSON.stringify({ error: 'bad', error_type: 'validation' }), { status: 422 });
      },
    });
    await expect(c.info()).rejects.toMatchObject({
      code: 'http_error',
      status: 401,
      message: expect.stringMatching(/Incorrect API key.*--api-key/),
    });
    calls = 0;
    await expect(c.score('m', [1, 2])).rejects.toMatchObject({ status: 422, message: expect.stringMatching(/bad/) });
    expect(calls).toBe(1);
  });

  it('gives up after the retries on a persistent 503', async () => {
    const { createClient } = await import('../../../scripts/eval/client.ts');
    let calls = 0;
    const c = createClient({
      baseUrl: 'http://x',
      backoffMs: 0,
      retries: 2,
      fetch: async () => (calls++, new Response('{"error":"loading"}', { status: 503 })),
    });
    await expect(c.score('m', [1, 2])).rejects.toMatchObject({ status: 503 });
    expect(calls).toBe(3);
  });
});

describe('runEval with --model other than the default', () => {
  it("does not attribute the default model's quantization to another model", async () => {
    const file = textFile(TEXT);
    const warnings: string[] = [];
    const o = parseEvalArgs(['--url', 'http://fake', '--model', 'other', '--dataset', 'file', '--file', file, '--no-progress']);
    const r = await runEval(o, { fetch: fakeServer().fetch, warn: (m) => warnings.push(m) });
    expect(r.model).toBe('other');
    expect(r.quantization).toBeNull();
    expect(r.label).toBe('other');
    expect(warnings.join()).toMatch(/quantization unknown/);
  });
});

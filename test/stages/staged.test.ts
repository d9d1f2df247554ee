/**
 * A staged model in real workerd (miniflare: gateway + three stage Workers + a single-isolate reference
 * gateway, scripts/stages/local.ts) on the bundled checkpoint converted to fp32; the reference is the same
 * weights served by the gateway in its own isolate under a second id:
 * - a corrupt shard read by one stage → 503 naming the stage and the blob; after repair the next request works;
 * - the pipeline's log-probabilities equal the single-isolate model's (1e-5), and seeded text is identical on the TGI,
 *   HF and OpenAI routes, streamed or not;
 * - concurrent sequences through the same stages each equal their solo run; 5 concurrent streams share their
 *   decode steps in two cohorts (two lanes: one call per stage per cohort, 3 and 2 rows; > 1.5 rows per call);
 * - admission: a sequence over a stage's KV budget → 503 + Retry-After (code `overloaded`), never an OOM; a stage
 *   refusing one request of a shared decode step fails that request alone;
 * - a stage failing mid-stream → that stream ends with an SSE error event; other streams and the next request work.
 * Tests run in order (the corrupt-shard test must see the first load), once for each place of the embedding
 * and head: the gateway (the planner's default where they fit) with chained hops (each stage passes the step
 * on: `npm run stages`' default), and stage 0 with the gateway calling each stage (STAGE_HOPS=gateway).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Miniflare } from 'miniflare';
import type { Manifest } from '../../worker/model/manifest.ts';
import type { StageClient } from '../../worker/stage/protocol.ts';
import { bundledFp32, FP32_ID } from '../unit/model/fixtures/bundled.ts';
import { referenceId, seedBucket, stageName, startTopology } from '../../scripts/stages/local.ts';

// The bundled model has 8 layers of width 256. Stage 2 holds two: 2 × 2 × 256 × 4 B = 4 KiB of KV per
// position per row; capped at 2048 positions for the admission test.
const KV_CAP = 2048 * 4096;
const stagesWithEnds = (ends: 'gateway' | 'stage') => [
  { layers: [0, 2] as [number, number], ends: ends === 'stage' },
  { layers: [2, 6] as [number, number], ends: false },
  { layers: [6, 8] as [number, number], ends: false, vars: { STAGE_KV_BUDGET_BYTES: String(KV_CAP) } },
];
let mf: Miniflare;
let dir: string;
let manifest: Manifest;

const ONE = referenceId(FP32_ID);

async function post(route: string, body: unknown): Promise<Response> {
  const w = await mf.getWorker('gateway');
  return (await w.fetch(`http://localhost${route}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  })) as unknown as Response;
}

/** The `data:` payloads of an SSE body, parsed (`[DONE]` dropped). */
function events(text: string): Record<string, unknown>[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
    .map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
}

async function stub(k: number): Promise<StageClient> {
  const ns = await mf.getDurableObjectNamespace('STAGE', stageName(k));
  return ns.get(ns.idFromName(FP32_ID)) as unknown as StageClient;
}

const tgi = { inputs: 'The jury said', parameters: { max_new_tokens: 16, do_sample: true, seed: 7, temperature: 0.9 } };

// Both places of the embedding and head, and both ways through the stages: chained (each stage passes the
// step on, `npm run stages`' default) and the gateway calling each stage (STAGE_HOPS=gateway).
describe.each([
  { ends: 'gateway', hops: 'chain' },
  { ends: 'stage', hops: 'gateway' },
] as const)('a staged model in workerd: gateway + 3 stage isolates, embedding and head in the $ends, $hops hops', ({ ends, hops }) => {
  beforeAll(async () => {
    ({ dir } = await bundledFp32());
    manifest = JSON.parse(readFileSync(path.join(dir, 'models', FP32_ID, 'manifest.json'), 'utf8')) as Manifest;
    mf = await startTopology({
      model: FP32_ID,
      stages: stagesWithEnds(ends),
      gatewayVars: { LOAD_RETRY_BACKOFF_MS: '0', STAGE_HOPS: hops },
    });
    await seedBucket(mf, dir, FP32_ID);
  });
  afterAll(async () => {
    await mf?.dispose();
  });

  it('a corrupt shard in stage 1 → 503 naming the stage and the blob; the next request after repair works', async () => {
    const shard = manifest.stages[0]!.shards.find((s) => s.location === manifest.stages[0]!.segments![4]!.shards[0])!;
    const bucket = await mf.getR2Bucket('MODEL_BUCKET', 'gateway');
    const good = readFileSync(path.join(dir, shard.key));
    const bad = new Uint8Array(good);
    bad[100]! ^= 0xff;
    await bucket.put(shard.key, bad.buffer);
    const res = await post('/generate', tgi);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: string; error_type: string };
    expect(body.error_type).toBe('model_load');
    expect(body.error).toContain('stage 1');
    expect(body.error).toContain(shard.key);
    await bucket.put(shard.key, good.buffer.slice(good.byteOffset, good.byteOffset + good.byteLength));
    const ok = await post('/generate', tgi);
    expect(ok.status).toBe(200);
  });

  it('gives the single-isolate log-probabilities at every prompt and generated position (fp32, within 1e-5)', async () => {
    // Through the product path: echo + logprobs carry log-softmax(logits) of the chosen token and the top 5
    // at every position. (The full logits vectors are compared in-process in test/unit/stages.)
    const body = (model: string) => ({
      model,
      prompt: 'The jury said that the city',
      max_tokens: 10,
      echo: true,
      logprobs: 5,
      temperature: 0,
    });
    type Lp = {
      choices: { logprobs: { tokens: string[]; token_logprobs: (number | null)[]; top_logprobs: (Record<string, number> | null)[] } }[];
    };
    const [a, b] = [
      (await (await post('/v1/completions', body(ONE))).json()) as Lp,
      (await (await post('/v1/completions', body(FP32_ID))).json()) as Lp,
    ];
    const flat = (r: Lp) => {
      const l = r.choices[0]!.logprobs;
      return [...l.token_logprobs.map((x) => x ?? 0), ...l.top_logprobs.flatMap((t) => Object.values(t ?? {}))];
    };
    const [x, y] = [flat(a), flat(b)];
    expect(b.choices[0]!.logprobs.tokens).toEqual(a.choices[0]!.logprobs.tokens);
    expect(x.length).toBeGreaterThan(60);
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-5);
  });

  it('gives the same seeded text as the single isolate on TGI, HF and OpenAI routes, streamed or not', async () => {
    // TGI routes serve the default (staged) model; their reference is the HF route, which speaks TGI's
    // parameters and stream events, on the single-isolate id.
    const p = { max_new_tokens: 16, do_sample: true, seed: 7, temperature: 0.9, top_k: 50, return_full_text: false };
    const text = async (r: Response) => (await r.json()) as { generated_text: string } | { generated_text: string }[];
    const tgiA = await text(await post('/generate', { inputs: 'The jury said', parameters: p }));
    const tgiB = await text(await post(`/models/${ONE}`, { inputs: 'The jury said', parameters: p }));
    expect([(tgiA as { generated_text: string }).generated_text]).toEqual(
      (tgiB as { generated_text: string }[]).map((x) => x.generated_text),
    );
    const tokens = (t: string) => events(t).map((e) => [(e.token as { text: string } | undefined)?.text, e.generated_text]);
    const sA = tokens(await (await post('/generate_stream', { inputs: 'The jury said', parameters: p })).text());
    const sB = tokens(await (await post(`/models/${ONE}`, { inputs: 'The jury said', parameters: p, stream: true })).text());
    expect(sA.length).toBeGreaterThan(5);
    expect(sA).toEqual(sB);

    const hf = { inputs: 'Once upon a time', parameters: { max_new_tokens: 12, seed: 3, num_return_sequences: 2 } };
    const [hA, hB] = [await (await post(`/models/${FP32_ID}`, hf)).json(), await (await post(`/models/${ONE}`, hf)).json()];
    expect(JSON.stringify(hA).length).toBeGreaterThan(40);
    expect(hA).toEqual(hB);

    const strip = (t: string) => t.replace(/"(id|created|model|system_fingerprint)":("[^"]*"|\d+|null)/g, '');
    for (const extra of [{ n: 2 }, { stream: true }]) {
      const o = (model: string) => ({ model, prompt: 'The jury said', max_tokens: 12, seed: 11, ...extra });
      const [oA, oB] = [
        strip(await (await post('/v1/completions', o(FP32_ID))).text()),
        strip(await (await post('/v1/completions', o(ONE))).text()),
      ];
      expect(oA.length).toBeGreaterThan(40);
      expect(oA).toBe(oB);
    }
  });

  it('runs concurrent sequences through the same stages without mixing them: each equals its solo run', async () => {
    const bodies = [1, 2, 3, 4].map((seed, i) => ({
      inputs: ['The jury said', 'It was', 'Mr. Smith', 'In 1961'][i],
      parameters: { max_new_tokens: 12, do_sample: true, seed },
    }));
    const solo: string[] = [];
    for (const b of bodies) solo.push(await (await post('/generate', b)).text());
    const together = await Promise.all(bodies.map(async (b) => (await post('/generate', b)).text()));
    expect(together).toEqual(solo);
    // Every sequence is released on every stage (the release travels just after each response: poll briefly).
    let resident = -1;
    for (let i = 0; i < 40 && resident !== 0; i++, await new Promise((r) => setTimeout(r, 250))) {
      const s = await (await stub(2)).stats();
      resident = s.ok ? s.value.residentBytes : -1;
    }
    expect(resident).toBe(0);
  });

  it('batches concurrent streams through the stages (rows per stage call > 1.5): 5 seeded streams each equal their solo run', async () => {
    const bodies = ['The jury said', 'It was', 'Mr. Smith', 'In 1961', 'Once upon a time'].map((inputs, i) => ({
      inputs,
      parameters: { max_new_tokens: 16, do_sample: true, seed: 20 + i, temperature: 0.9 },
    }));
    const stream = async (b: unknown) => events(await (await post('/generate_stream', b)).text());
    const solo: Record<string, unknown>[][] = [];
    for (const b of bodies) solo.push(await stream(b));
    const steps = async () =>
      Promise.all(
        [0, 1, 2].map(async (k) => {
          const a = await (await stub(k)).stats();
          if (!a.ok) throw new Error(a.message);
          return a.value.steps;
        }),
      );
    const before = await steps();
    const together = await Promise.all(bodies.map(stream));
    const after = await steps();
    expect(together).toEqual(solo);
    expect(solo.every((e) => e.length > 5)).toBe(true);
    for (const [k, a] of after.entries()) {
      const b = before[k]!;
      // 5 prefills alone, then decode steps in two lanes (PIPELINE_LANES' default): cohorts of 3 and 2 rows.
      expect((a.rows - b.rows) / (a.calls - b.calls), `stage ${k}`).toBeGreaterThan(1.5);
      expect(a.maxRows).toBe(3);
      // Chained, stages 0 and 1 passed every step on to the next stage; otherwise the gateway called each.
      expect(a.passed - b.passed, `stage ${k} passed on`).toBe(hops === 'chain' && k < 2 ? a.calls - b.calls : 0);
    }
  });

  // StepScheduler settles a staged step request by request (forwardBatchSettled): a refusal is that request's alone.
  it('a stage refusing one request of a shared decode step fails that request alone; the streams beside it go on', async () => {
    // Three streams are decoding when an n = 8 request comes in: its prefill runs alone, then its first decode
    // step (8 rows) joins theirs (one call per stage), and stage 2 refuses the 8-row tile (over its KV budget).
    const ok = (seed: number) => ({ model: FP32_ID, prompt: 'It was', max_tokens: 48, seed, stream: true });
    const solo: string[] = [];
    for (const seed of [4, 5, 6]) solo.push(await (await post('/v1/completions', ok(seed))).text());
    const read = async (r: Response, first?: () => void) => {
      const reader = r.body!.getReader();
      const dec = new TextDecoder();
      let text = '';
      for (let c = await reader.read(); !c.done; c = await reader.read()) {
        text += dec.decode(c.value, { stream: true });
        if (text.includes('\n\n')) first?.();
      }
      return text;
    };
    let started = 0;
    const streams = [4, 5, 6].map(async (seed) => {
      let seen = false;
      return read(await post('/v1/completions', ok(seed)), () => {
        if (!seen) started++;
        seen = true;
      });
    });
    while (started < 3) await new Promise((r) => setTimeout(r, 20)); // all three are decoding
    const failing = await (
      await post('/v1/completions', { model: FP32_ID, prompt: 'The jury said', n: 8, max_tokens: 256, seed: 1, stream: true })
    ).text();
    const others = await Promise.all(streams);
    const ev = events(failing);
    expect(ev.filter((e) => 'choices' in e).length).toBeGreaterThan(0); // its first tokens (from the prefill) went out
    const last = ev.at(-1) as { error?: { message: string; code: string } };
    expect(last.error?.code).toBe('overloaded');
    expect(last.error?.message).toMatch(/stage 2 .*at capacity/);
    const strip = (t: string) => t.replace(/"(id|created)":("[^"]*"|\d+)/g, '');
    expect(others.map(strip)).toEqual(solo.map(strip));
  });

  it('refuses a sequence over a stage budget up front: 503 + Retry-After, code overloaded; smaller ones still run', async () => {
    // 8 sequences × (4 + 256) positions = 2080 KiB of KV on stage 2 (cap 2048 KiB): refused when the prefill is
    // tiled to 8 rows, before the first byte of a non-streamed response.
    const res = await post('/v1/completions', { model: FP32_ID, prompt: 'The jury said', n: 8, max_tokens: 256 });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await res.json()) as { error: { code: string; message: string; type: string } };
    expect(body.error.code).toBe('overloaded');
    expect(body.error.message).toMatch(/stage 2 .*at capacity/);
    expect((await post('/generate', tgi)).status).toBe(200);
  });

  it('a stage that fails mid-stream ends that stream with an SSE error event (no hang); a concurrent stream and the next request are unaffected', async () => {
    // n = 8 streams its first tokens from the prefill, then stage 2 refuses the tiled 8-row cache (over its
    // KV budget): the failure comes after the first byte. (A stage *reset* — its sequences gone — is covered
    // in-process by test/unit/stages: miniflare's Node-side proxy does not survive an aborted object.)
    const ok = { model: FP32_ID, prompt: 'It was', max_tokens: 24, seed: 2, stream: true };
    const solo = await (await post('/v1/completions', ok)).text();
    const [failing, other] = await Promise.all([
      post('/v1/completions', { model: FP32_ID, prompt: 'The jury said', n: 8, max_tokens: 256, seed: 1, stream: true }).then((r) =>
        r.text(),
      ),
      post('/v1/completions', ok).then((r) => r.text()),
    ]);
    const ev = events(failing);
    expect(ev.filter((e) => 'choices' in e).length).toBeGreaterThan(0); // tokens went out first
    const last = ev.at(-1) as { error?: { message: string; code: string } };
    expect(last.error?.code).toBe('overloaded');
    expect(last.error?.message).toMatch(/stage 2/);
    const strip = (t: string) => t.replace(/"(id|created)":("[^"]*"|\d+)/g, '');
    expect(strip(other)).toBe(strip(solo));
    const again = await post('/generate', tgi);
    expect(again.status).toBe(200);
  });
});

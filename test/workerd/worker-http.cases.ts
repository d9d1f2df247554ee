/**
 * The whole Worker (worker/index.ts via SELF) inside workerd with the bundled model seeded into R2:
 * load failures answer 503 with the reason and are not cached, greedy output equals the same model
 * run in Node, seeded sampling is identical under 8 concurrent requests, and a client disconnect
 * stops compute. The Worker shares this isolate, so modelProviderFor(env.MODEL_BUCKET, …) is its provider.
 */
import { SELF } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestKey } from '../../worker/model/manifest.ts';
import { modelProviderFor } from '../../worker/model/provider.ts';
import { fixture, fixtureFetch, fixtureText, seed } from './helpers.ts';

const ID = 'edge-gpt2-brown';
const PROMPT = { text: 'The jury said that the city was', ids: [464, 9002, 531, 326, 262, 1748, 373] };

const post = (path: string, body: unknown) =>
  SELF.fetch(`http://worker${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The whole Worker over R2 (called from bundled.test.ts). */
export function workerHttpCases(): void {
  describe('the Worker over R2 in workerd', () => {
    let keys: string[];
    let nodeTokens: number[];

    beforeAll(async () => {
      keys = (await fixtureText('shards/list')).split('\n');
      const res = await fixtureFetch('bundled/node-greedy', { method: 'POST', body: JSON.stringify({ ids: PROMPT.ids, steps: 12 }) });
      nodeTokens = JSON.parse(res.headers.get('x-tokens')!);
      await res.arrayBuffer();
    });

    it('missing manifest, corrupt shard, missing shard → 503 with the reason; after repair → 200', async () => {
      // The Worker gets this provider (one per bucket): no back-off after a failed load, so each repair
      // is tried by the very next request (the Worker's own LOAD_RETRY_BACKOFF_MS=0, vitest.config.ts).
      // It batches as the Worker's config does (MAX_BATCH_ROWS defaults to 16): batch-invariance.cases.ts relies on it.
      const models = modelProviderFor(env.MODEL_BUCKET, {
        ids: [ID],
        defaultId: ID,
        failureBackoff: { initialMs: 0, maxMs: 0 },
        batching: { maxBatchRows: 16 },
      });
      expect(models.state(ID)).toEqual({ state: 'unloaded' }); // nothing loaded at start-up
      const manifest = JSON.parse(new TextDecoder().decode(await fixture(`shards/file/${manifestKey(ID)}`)));
      const weights: string = manifest.stages[0].shards[0].key;

      const expect503 = async (reason: RegExp) => {
        const res = await post('/generate', { inputs: 'Hello', parameters: { max_new_tokens: 2 } });
        const text = await res.text();
        expect(res.status, text).toBe(503);
        expect(text).toMatch(reason);
        expect(text).not.toMatch(/\n\s+at /); // no stack trace
      };
      await env.MODEL_BUCKET.delete(manifestKey(ID)); // whatever an earlier file left in the bucket
      await expect503(/manifest/);

      await seed(keys, (key) => fixture(`shards/file/${key}`));
      const good = await fixture(`shards/file/${weights}`);
      const bad = good.slice();
      bad[1000]! ^= 0x10;
      await env.MODEL_BUCKET.put(weights, bad);
      await expect503(new RegExp(weights.slice(6, 18)));

      await env.MODEL_BUCKET.delete(weights);
      await expect503(/missing/);

      await env.MODEL_BUCKET.put(weights, good);
      const ok = await post('/generate', { inputs: 'Hello', parameters: { max_new_tokens: 2 } });
      expect(ok.status, await ok.clone().text()).toBe(200);
      expect(models.state(ID)).toEqual({ state: 'ready' });
    });

    it('greedy /generate equals the same model run in Node, and the stream carries the same tokens', async () => {
      const res = await post('/generate', { inputs: PROMPT.text, parameters: { max_new_tokens: 12, details: true } });
      const body = (await res.json()) as { details: { tokens: { id: number }[] } };
      expect(body.details.tokens.map((t) => t.id)).toEqual(nodeTokens);

      const stream = await post('/generate_stream', { inputs: PROMPT.text, parameters: { max_new_tokens: 12 } });
      expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
      const ids = [...(await stream.text()).matchAll(/^data: (.*)$/gm)]
        .map((m) => JSON.parse(m[1]!) as { token?: { id: number } })
        .flatMap((e) => (e.token ? [e.token.id] : []));
      expect(ids).toEqual(nodeTokens);
    });

    it('seeded sampling is identical across 8 concurrent requests and equal to a request alone', async () => {
      const body = { inputs: PROMPT.text, parameters: { max_new_tokens: 16, do_sample: true, seed: 1234, temperature: 0.9, top_k: 40 } };
      const alone = ((await (await post('/generate', body)).json()) as { generated_text: string }).generated_text;
      const texts = await Promise.all(
        Array.from(
          { length: 8 },
          async () => ((await (await post('/generate', body)).json()) as { generated_text: string }).generated_text,
        ),
      );
      expect(new Set(texts)).toEqual(new Set([alone]));
      expect(alone.length).toBeGreaterThan(0);
    });

    it('a client disconnect stops compute at the next step', async () => {
      const { lm } = await modelProviderFor(env.MODEL_BUCKET, { ids: [ID], defaultId: ID }).get(ID);
      const steps = () => (lm as unknown as { steps: number }).steps;
      const controller = new AbortController();
      const res = await SELF.fetch('http://worker/generate_stream', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: PROMPT.text, parameters: { max_new_tokens: 250 } }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      for (let events = 0; events < 3;) if ((await reader.read()).value) events++;
      controller.abort();
      await reader.cancel().catch(() => {});
      await new Promise((r) => setTimeout(r, 300)); // let an in-flight step finish
      const after = steps();
      await new Promise((r) => setTimeout(r, 500));
      expect(steps()).toBe(after); // no more forward calls
      expect(after).toBeLessThan(200);
    });

    it('malformed bodies are 4xx, never 5xx', async () => {
      for (const body of [
        '{not json',
        '{"inputs": 5}',
        '{"inputs":"x","parameters":{"max_new_tokens":-1}}',
        '{"inputs":"x","parameters":{"max_new_tokens":100000}}',
      ]) {
        const res = await SELF.fetch('http://worker/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        expect(res.status, body).toBeGreaterThanOrEqual(400);
        expect(res.status, body).toBeLessThan(500);
        await res.arrayBuffer();
      }
    });
  });
}

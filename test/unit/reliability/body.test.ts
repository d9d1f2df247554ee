/**
 * Refused bodies are drained before the answer goes out (issue 16: answering 413 while the client was
 * still sending, then cancelling, made `wrangler dev` answer 503 and die). The same checks against a
 * real `wrangler dev` with 8–16 MiB bodies are in `npm run test:reliability`.
 */
import { describe, expect, it } from 'vitest';
import { DRAIN_LIMIT_BYTES, discard } from '../../../worker/http/body.ts';
import { makeApp, testConfig } from '../dialects/helpers.ts';

/** A body of `total` bytes in 64 KiB chunks that records how much was pulled and whether it was cancelled. */
function countingBody(total: number) {
  const chunk = new Uint8Array(1 << 16).fill(0x61);
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (seen.pulled >= total) return c.close();
      const n = Math.min(chunk.byteLength, total - seen.pulled);
      seen.pulled += n;
      c.enqueue(chunk.subarray(0, n));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

const post = (_path: string, body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, duplex: 'half' }) as RequestInit;

describe('refused bodies are drained, not left unread', () => {
  const routes = ['/', '/generate', '/generate_stream', '/v1/completions', '/models/edge-gpt2-brown', '/tokenize', '/v1/embeddings'];

  it.each(routes)('%s: 413 after reading the whole 8 MiB chunked body', async (route) => {
    const { app } = makeApp({ config: testConfig({ maxBodyBytes: 1 << 20 }) });
    const { stream, seen } = countingBody(8 << 20);
    const res = await app.request(route, post(route, stream));
    expect(res.status).toBe(413);
    expect(seen.pulled).toBe(8 << 20);
    expect(seen.cancelled).toBe(false);
  });

  it('413 by Content-Length also drains; a declared size over the drain limit is cancelled at once', async () => {
    const { app } = makeApp({ config: testConfig({ maxBodyBytes: 1 << 20 }) });
    const a = countingBody(10 << 20);
    const r1 = await app.request('/generate', post('/generate', a.stream, { 'content-length': String(10 << 20) }));
    expect(r1.status).toBe(413);
    expect(a.seen.pulled).toBe(10 << 20);
    const b = countingBody(DRAIN_LIMIT_BYTES * 2);
    const r2 = await app.request('/generate', post('/generate', b.stream, { 'content-length': String(DRAIN_LIMIT_BYTES * 2) }));
    expect(r2.status).toBe(413);
    expect(b.seen.cancelled).toBe(true);
    expect(b.seen.pulled).toBeLessThan(DRAIN_LIMIT_BYTES);
  });

  it('routes that never read the body (404, 401) drain it too', async () => {
    const a = countingBody(4 << 20);
    expect((await makeApp().app.request('/nope', post('/nope', a.stream))).status).toBe(404);
    expect(a.seen.pulled).toBe(4 << 20);
    const { app } = makeApp({ config: testConfig({ apiKeys: ['k'] }) });
    const b = countingBody(4 << 20);
    expect((await app.request('/generate', post('/generate', b.stream))).status).toBe(401);
    expect(b.seen.pulled).toBe(4 << 20);
  });

  it('discard stops at its limit and cancels the rest', async () => {
    const { stream, seen } = countingBody(1 << 20);
    await discard(stream, 256 << 10);
    expect(seen.cancelled).toBe(true);
    expect(seen.pulled).toBeLessThanOrEqual((256 << 10) + (1 << 16) * 2);
  });

  it('a byte stream is read with 1 MiB BYOB reads, not chunk by chunk (workerd: 4 KiB chunks, 90 ms of CPU per 16 MiB)', async () => {
    const total = 16 << 20;
    let pulled = 0;
    let pulls = 0;
    const stream = new ReadableStream({
      type: 'bytes',
      pull(c) {
        pulls++;
        if (pulled >= total) {
          c.close();
          return c.byobRequest?.respond(0); // a pending BYOB read is answered with 0 bytes at the end
        }
        const view = c.byobRequest!.view!;
        const n = Math.min(view.byteLength, total - pulled);
        new Uint8Array(view.buffer, view.byteOffset, n).fill(0x61);
        pulled += n;
        c.byobRequest!.respond(n);
      },
    });
    const { app } = makeApp({ config: testConfig({ maxBodyBytes: 1 << 20 }) });
    const res = await app.request('/generate', post('/generate', stream));
    expect(res.status).toBe(413);
    expect(pulled).toBe(total);
    expect(pulls).toBeLessThanOrEqual(24); // 16 KiB, 32 KiB … 1 MiB, then 1 MiB reads: 22
  });

  it('a byte-stream body under the cap is read whole and parsed', async () => {
    const json = new TextEncoder().encode(JSON.stringify({ inputs: 'x'.repeat(3 << 20) }));
    let off = 0;
    const stream = new ReadableStream({
      type: 'bytes',
      pull(c) {
        if (off >= json.byteLength) {
          c.close();
          return c.byobRequest?.respond(0);
        }
        const view = c.byobRequest!.view!;
        const n = Math.min(view.byteLength, json.byteLength - off, 300_000);
        new Uint8Array(view.buffer, view.byteOffset, n).set(json.subarray(off, off + n));
        off += n;
        c.byobRequest!.respond(n);
      },
    });
    const { app } = makeApp({ config: testConfig({ maxBodyBytes: 4 << 20 }) });
    const res = await app.request('/tokenize', post('/tokenize', stream));
    // parsed whole (not a 400 for bad JSON): the prompt's length check saw every byte of the field
    expect(res.status).toBe(422);
    expect(await res.text()).toContain(`inputs is ${3 << 20} bytes`);
    expect(off).toBe(json.byteLength);
  });
});

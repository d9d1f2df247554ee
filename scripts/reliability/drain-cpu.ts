/**
 * What it costs workerd to read and drop a refused 16 MiB body, by how it is read: the default reader
 * (workerd hands out 4 KiB chunks), BYOB `readAtLeast` with a 1 MiB buffer (the size worker/http/body.ts
 * grows its reads to), and `cancel()` (the client then sees a reset, which is why refused bodies are
 * drained, not cancelled).
 * Plain miniflare, no dev proxy; CPU is the workerd process's utime + stime from /proc, per request,
 * two passes. `npx tsx scripts/reliability/drain-cpu.ts [MiB]`
 */
import { Miniflare } from 'miniflare';
import http from 'node:http';
import { cpuMs, pidsNamed } from '../bench/dev-server.ts';

const SCRIPT = `
async function byDefault(body) { const r = body.getReader(); let n = 0; for (;;) { const { done } = await r.read(); if (done) return n; n++; } }
async function byByob(body) {
  const r = body.getReader({ mode: 'byob' }); let buf = new ArrayBuffer(1 << 20); let n = 0;
  for (;;) { const { done, value } = await r.readAtLeast(1 << 20, new Uint8Array(buf)); if (done || value.byteLength === 0) return n; n++; buf = value.buffer; }
}
export default {
  async fetch(req) {
    const path = new URL(req.url).pathname; let reads = 0;
    if (path === '/default') reads = await byDefault(req.body);
    else if (path === '/byob') reads = await byByob(req.body);
    else await req.body.cancel();
    return Response.json({ reads }, { status: 413 });
  },
};`;

/** POSTs `size` bytes with a Content-Length; resolves with the status and body, or the socket error. */
function post(url: URL, size: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': String(size) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', (e) => resolve(`error ${e.message}`));
    const chunk = Buffer.alloc(64 << 10, 0x20);
    let left = size;
    const write = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.byteLength);
        left -= n;
        if (!req.write(chunk.subarray(0, n))) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

const size = Number(process.argv[2] ?? 16) << 20;
const N = 10;
const before = new Set(pidsNamed('workerd'));
const mf = new Miniflare({ modules: true, script: SCRIPT, compatibilityDate: '2026-04-20' });
const base = await mf.ready;
const pids = pidsNamed('workerd').filter((p) => !before.has(p));
const cpu = () => pids.reduce((t, p) => t + (cpuMs(p) ?? 0), 0);
try {
  for (const pass of [1, 2]) {
    for (const path of ['/default', '/byob', '/cancel']) {
      const url = new URL(path, base);
      await post(url, 1024);
      const c0 = cpu();
      let last = '';
      for (let i = 0; i < N; i++) last = await post(url, size);
      console.log(
        `pass ${pass} ${path.padEnd(9)} ${((cpu() - c0) / N).toFixed(1).padStart(6)} ms CPU per ${size >> 20} MiB body   last answer: ${last}`,
      );
    }
  }
} finally {
  await mf.dispose();
}

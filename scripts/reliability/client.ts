/**
 * A raw HTTP client for the suite (node:http, one connection per request): exact control over
 * Content-Length vs chunked bodies, a hard per-request timeout (a hang is reported, never waited out),
 * and abort after N ms (disconnect storms).
 */
import http from 'node:http';

export interface Sent {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
  timeoutMs?: number;
  /** Destroy the connection this many ms after the request starts (a client that goes away). */
  abortAfterMs?: number;
}

export interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
  /** 'hang' (timed out), 'aborted' (we went away), or a socket error code; absent on a full answer. */
  error?: string;
}

const MAX_KEPT = 64 * 1024;

export function send(req: Sent): Promise<Received> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    let body = '';
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(abortTimer);
      resolve({ status, headers, body, ms: performance.now() - t0, ...(error ? { error } : {}) });
    };
    const bytes =
      typeof req.body === 'string'
        ? Buffer.from(req.body)
        : req.body
          ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength)
          : undefined;
    const h: Record<string, string | number> = { ...req.headers };
    if (bytes && !req.chunked) h['content-length'] = bytes.byteLength;
    if (bytes && req.chunked) h['transfer-encoding'] = 'chunked';
    const r = http.request(req.url, { method: req.method, headers: h, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < MAX_KEPT) body += d;
      });
      res.on('end', () => finish());
      res.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'response_error'));
      res.on('aborted', () => finish('response_aborted'));
    });
    const timer = setTimeout(() => {
      r.destroy();
      finish('hang');
    }, req.timeoutMs ?? 60_000);
    const abortTimer = req.abortAfterMs !== undefined ? setTimeout(() => (r.destroy(), finish('aborted')), req.abortAfterMs) : undefined;
    r.on('error', (e: NodeJS.ErrnoException) => finish(status ? undefined : (e.code ?? 'request_error')));
    r.on('close', () => setTimeout(() => finish(status ? undefined : 'closed'), 50));
    if (bytes) {
      // Written in 64 KiB pieces, respecting back-pressure, like a real uploader.
      let at = 0;
      const pump = () => {
        while (at < bytes.byteLength) {
          const piece = bytes.subarray(at, at + (1 << 16));
          at += piece.byteLength;
          if (!r.write(piece)) return void r.once('drain', pump);
        }
        r.end();
      };
      pump();
    } else r.end();
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** The `data:` JSON payloads of an SSE body. */
export function sseData(body: string): unknown[] {
  return body
    .split(/\r?\n/)
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim())
    .filter((d) => d !== '[DONE]')
    .map((d) => {
      try {
        return JSON.parse(d) as unknown;
      } catch {
        return d;
      }
    });
}

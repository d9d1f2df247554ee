/**
 * A fetch handler (a Hono app's `fetch`) behind node:http, for browser tests that need the Worker's
 * routes with a fake model: streamed responses are written chunk by chunk (no buffering), and a
 * client that goes away aborts the Request's signal, as workerd does. (@hono/node-server would do
 * this too; it is not a dependency, and ~50 lines suffice for tests.)
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

export type FetchHandler = (req: Request) => Response | Promise<Response>;

export interface NodeServer {
  url: string;
  close(): Promise<void>;
}

function toRequest(req: IncomingMessage, origin: string, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v !== undefined) headers.set(k, v);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(new URL(req.url ?? '/', origin), {
    method: req.method ?? 'GET',
    headers,
    signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  } as RequestInit);
}

export async function serve(handler: FetchHandler, port = 0): Promise<NodeServer> {
  let origin = '';
  const server = createServer(async (req, res) => {
    const ac = new AbortController();
    // 'close' on the response before it finished = the client disconnected.
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    try {
      const response = await handler(toRequest(req, origin, ac.signal));
      res.writeHead(response.status, Object.fromEntries(response.headers as unknown as Iterable<[string, string]>));
      if (!response.body) return void res.end();
      const reader = response.body.getReader();
      ac.signal.addEventListener('abort', () => void reader.cancel().catch(() => {}), { once: true });
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (ac.signal.aborted) {
          await reader.cancel();
          break;
        }
        res.write(value);
      }
      res.end();
    } catch (e) {
      if (!res.headersSent) res.writeHead(500).end(String(e));
      else res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

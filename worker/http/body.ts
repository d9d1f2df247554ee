/**
 * Reading a JSON request body defensively: a size cap (Content-Length first, then while streaming,
 * so a chunked body cannot grow past it), strict UTF-8 (invalid bytes are a 400, not U+FFFD),
 * and JSON.parse errors as 400s. Every failure is an ApiError, never a 5xx or a hang.
 *
 * A body we refuse is still read to its end (discarded, never buffered) before the answer goes out,
 * up to DRAIN_LIMIT_BYTES; only past that is it cancelled. Answering while the client is still
 * sending and cancelling the rest broke `wrangler dev` (measured: 8–16 MiB chunked bodies got 503
 * "worker restarted mid-request", resets, then the dev server died); a client that is still writing
 * also tends to miss an early answer. `drainUnreadBody` does the same for every route that never
 * reads its body (404, 401, GET with a body).
 *
 * Bodies are read in chunks of up to 1 MiB (`chunkReader`): workerd's default reader hands out 4 KiB
 * chunks, and 4,096 reads of a 16 MiB body cost ~90 ms of CPU; its BYOB `readAtLeast` takes 16 reads
 * and ~6 ms (measured in miniflare, `scripts/reliability/drain-cpu.ts`).
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.ts';

/** Bodies up to this size are drained (read and dropped) when refused; larger ones are cancelled. */
export const DRAIN_LIMIT_BYTES = 32 << 20;

/**
 * How much one read of a request body asks for: the first read asks for 16 KiB (a typical JSON body is a
 * few hundred bytes; 64 concurrent requests must not hold 64 MiB of read buffers in a 128 MB isolate),
 * and each read that fills its buffer doubles the next one, up to 1 MiB.
 */
const FIRST_READ_BYTES = 16 << 10;
const MAX_READ_BYTES = 1 << 20;

interface ChunkReader {
  /** The next chunk (the caller's to keep), or undefined at the end. */
  read(): Promise<Uint8Array | undefined>;
  cancel(): Promise<void>;
}

/**
 * Large reads where the stream allows them: a byte stream gets a BYOB reader (workerd's `readAtLeast`
 * fills the buffer; elsewhere `read` takes what is there), any other stream the default reader.
 */
function chunkReader(body: ReadableStream<Uint8Array>): ChunkReader {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: 'byob' });
  } catch {
    // not a byte stream
  }
  if (!byob) {
    const reader = body.getReader();
    return {
      read: async () => {
        const { done, value } = await reader.read();
        return done ? undefined : value;
      },
      cancel: () => reader.cancel(),
    };
  }
  const reader = byob;
  // workerd's extension (absent from the DOM and Node typings the scripts compile this file with)
  const atLeast = reader as unknown as { readAtLeast?: (min: number, view: Uint8Array) => Promise<ReadableStreamReadResult<Uint8Array>> };
  const fill = (view: Uint8Array) =>
    typeof atLeast.readAtLeast === 'function' ? atLeast.readAtLeast(view.byteLength, view) : reader.read(view);
  let size = FIRST_READ_BYTES;
  return {
    read: async () => {
      // A fresh buffer per read, so every chunk stays the caller's; a read that fills it doubles the next.
      const { done, value } = await fill(new Uint8Array(size));
      if (done || !value) return undefined;
      if (value.byteLength === size) size = Math.min(size * 2, MAX_READ_BYTES);
      return value.byteLength > 0 ? value : undefined;
    },
    cancel: () => reader.cancel(),
  };
}

export interface ReadJsonOptions {
  maxBytes: number;
  /** false: any Content-Type is accepted (HF's curl examples send form-urlencoded with a JSON body). */
  requireJsonContentType: boolean;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export async function readJson(req: Request, opts: ReadJsonOptions): Promise<unknown> {
  const type = req.headers.get('content-type');
  if (opts.requireJsonContentType && type !== null && !JSON_TYPE.test(type.trim())) {
    throw new ApiError('unsupported_media_type', `Content-Type must be application/json, got "${type.slice(0, 100)}"`);
  }
  const bytes = await readCapped(req, opts.maxBytes);
  if (bytes.byteLength === 0) throw new ApiError('validation', 'request body is empty; expected JSON');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError('validation', 'request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The engine's message quotes the input; keep the answer fixed and short.
    throw new ApiError('validation', 'request body is not valid JSON');
  }
}

async function readCapped(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => new ApiError('payload_too_large', `request body is larger than ${maxBytes} bytes`);
  const declared = req.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    await discard(req.body, Number(declared) <= DRAIN_LIMIT_BYTES ? DRAIN_LIMIT_BYTES : 0);
    throw tooLarge();
  }
  if (!req.body) return new Uint8Array(0);
  const reader = chunkReader(req.body);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const value = await reader.read();
      if (!value) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await discardFrom(reader, DRAIN_LIMIT_BYTES - total);
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError('validation', 'request body could not be read');
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** Reads and drops `body` up to `limit` bytes, then cancels whatever is left. Never throws. */
export async function discard(body: ReadableStream<Uint8Array> | null, limit = DRAIN_LIMIT_BYTES): Promise<void> {
  if (!body || body.locked) return;
  await discardFrom(chunkReader(body), limit);
}

async function discardFrom(reader: ChunkReader, limit: number): Promise<void> {
  try {
    let left = limit;
    while (left > 0) {
      const value = await reader.read();
      if (!value) return;
      left -= value.byteLength;
    }
    await reader.cancel();
  } catch {
    // the client went away mid-body: nothing left to drain
  }
}

/**
 * Middleware: after the handler has answered, drain a request body nobody read (routes that refuse
 * before parsing: auth, 404, methods without a body parser), so the answer is not sent into a
 * connection that is still receiving.
 */
export function drainUnreadBody(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const req = c.req.raw;
    if (req.body && !req.bodyUsed && !req.body.locked) await discard(req.body);
  };
}

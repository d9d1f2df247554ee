/**
 * Reading a JSON request body defensively: a size cap (Content-Length first, then while streaming,
 * so a chunked body cannot grow past it), strict UTF-8 (invalid bytes are a 400, not U+FFFD),
 * and JSON.parse errors as 400s. Every failure is an ApiError, never a 5xx or a hang.
 */
import { ApiError } from './errors.ts';

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
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) throw tooLarge();
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
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

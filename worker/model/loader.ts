/**
 * Manifest and blobs from a BlobSource: bounded concurrency, byte length + SHA-256 checked before any
 * byte is used, transient errors retried with backoff. Every failure is a ModelLoadError whose code
 * says what to fix and whose message names the key (never a stack or a raw R2 error).
 */
import { blobKey, manifestBlobs, manifestKey, parseManifest, type BlobRef, type Manifest } from './manifest.ts';
import { DEFAULT_RETRY, mapLimit, withRetry, type RetryPolicy } from './retry.ts';
import { ModelLoadError, type BlobSource } from './types.ts';

export interface LoaderOptions {
  /** Blobs in flight at once; Workers allow ~6 open connections per request. */
  concurrency?: number;
  retry?: RetryPolicy;
  /** One read attempt that takes longer than this counts as a transient failure (and is retried). */
  attemptTimeoutMs?: number;
  log?: (line: string) => void;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_ATTEMPT_TIMEOUT_MS = 60_000;

/** Rejects when `p` has not settled after `ms`: a hung read must not hang every waiting request. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.slice(0, 200) : String(err).slice(0, 200);
}

/** One read with retries on thrown errors; null (absent) is an answer, not an error. */
async function getWithRetry(source: BlobSource, key: string, opts: LoaderOptions): Promise<Uint8Array | null> {
  const log = opts.log ?? console.log;
  try {
    const timeoutMs = opts.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    return await withRetry(
      () => withTimeout(source.get(key), timeoutMs, `get ${key}`),
      opts.retry ?? DEFAULT_RETRY,
      (attempt, delay, err) => log(`[model] get ${key} failed (${errorText(err)}); retry ${attempt + 1} in ${Math.round(delay)} ms`),
    );
  } catch (err) {
    throw new ModelLoadError('fetch_failed', `could not read ${key} from the model bucket: ${errorText(err)}`);
  }
}

export async function fetchManifest(source: BlobSource, id: string, opts: LoaderOptions = {}): Promise<Manifest> {
  const key = manifestKey(id);
  const bytes = await getWithRetry(source, key, opts);
  if (!bytes) {
    throw new ModelLoadError('manifest_missing', `model "${id}" has no manifest at ${key}; upload it with \`npm run upload\``);
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(JSON.parse(new TextDecoder().decode(bytes)));
  } catch (err) {
    throw new ModelLoadError('manifest_invalid', `${key}: ${errorText(err)}`);
  }
  if (manifest.id !== id) {
    throw new ModelLoadError('manifest_invalid', `${key} describes model "${manifest.id}", not "${id}"`);
  }
  for (const ref of manifestBlobs(manifest)) {
    if (ref.key !== blobKey(ref.sha256)) {
      throw new ModelLoadError('manifest_invalid', `${key}: blob key ${ref.key} is not blobs/<its sha256>`);
    }
  }
  return manifest;
}

export function totalBytes(manifest: Manifest): number {
  return manifestBlobs(manifest).reduce((n, ref) => n + ref.bytes, 0);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Throws blob_corrupt unless `bytes` are exactly what `ref` describes. */
async function verifyBlob(ref: BlobRef, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength !== ref.bytes) {
    throw new ModelLoadError('blob_corrupt', `${ref.key} has ${bytes.byteLength} bytes, the manifest says ${ref.bytes}`);
  }
  const actual = await sha256Hex(bytes);
  if (actual !== ref.sha256) {
    throw new ModelLoadError('blob_corrupt', `${ref.key} fails its SHA-256 check (got ${actual.slice(0, 12)}…); re-upload it`);
  }
}

/**
 * Fetches and verifies `refs` with bounded concurrency, in order. `onBytes` is called with each
 * blob's size once it is verified (for progress). A corrupt blob is not retried: keys are
 * content-addressed, so a second read returns the same wrong bytes.
 */
export async function fetchBlobs(
  source: BlobSource,
  refs: readonly BlobRef[],
  opts: LoaderOptions & { onBytes?: (bytes: number) => void } = {},
): Promise<Uint8Array[]> {
  return mapLimit(refs, opts.concurrency ?? DEFAULT_CONCURRENCY, async (ref) => {
    const bytes = await getWithRetry(source, ref.key, opts);
    if (!bytes) throw new ModelLoadError('blob_missing', `${ref.key} is missing from the model bucket; re-upload the model`);
    await verifyBlob(ref, bytes);
    opts.onBytes?.(bytes.byteLength);
    return bytes;
  });
}

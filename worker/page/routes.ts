/**
 * The model page as handlers for worker/app.ts's `pages` hook: `GET /` (the default model) and
 * `GET /models/:model` when the client prefers HTML (app.ts decides that with prefersHtml).
 *
 * Rendering never loads the model: a ready model's manifest comes from the provider, otherwise from
 * `deps.manifest` (a small R2 read), cached per isolate for `manifestTtlMs`.
 */
import type { Context } from 'hono';
import { ManifestError, type Manifest } from '../model/manifest.ts';
import { ModelLoadError } from '../model/types.ts';
import { renderPage } from './render.ts';
import type { PageDeps } from './types.ts';

/** Nothing is loaded from elsewhere: scripts/styles are inline, requests go to this origin only. */
const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface ManifestLookup {
  manifest: Manifest | null;
  error: string | null;
}

function manifestReader(deps: PageDeps): (id: string) => Promise<ManifestLookup> {
  const ttl = deps.manifestTtlMs ?? 60_000;
  const cache = new Map<string, { at: number; manifest: Manifest }>();
  return async (id) => {
    if (deps.models.state(id).state === 'ready') {
      // Already loaded: get() resolves at once with the manifest the model was loaded from.
      return { manifest: (await deps.models.get(id)).manifest, error: null };
    }
    if (!deps.manifest) return { manifest: null, error: null };
    const hit = cache.get(id);
    if (hit && Date.now() - hit.at < ttl) return { manifest: hit.manifest, error: null };
    try {
      const manifest = await deps.manifest(id);
      cache.set(id, { at: Date.now(), manifest });
      return { manifest, error: null };
    } catch (e) {
      // Failures are not cached (like model loads): the next page view tries again.
      const safe = e instanceof ModelLoadError || e instanceof ManifestError;
      if (!safe) console.error('page: manifest read failed', e);
      return { manifest: null, error: safe ? e.message : `the manifest of ${id} could not be read` };
    }
  };
}

/**
 * Renders the page of one served model (`id` must be one of `deps.models.ids`). Its signature is the
 * `ModelPageRenderer` hook of worker/dialects/hf/routes.ts, so `GET /models/:model` can also be wired there.
 */
function createModelPage(deps: PageDeps): (c: Context, id: string) => Promise<Response> {
  const readManifest = manifestReader(deps);
  return async (c, id) => {
    const { manifest, error } = await readManifest(id);
    const isDefault = id === deps.models.defaultId;
    const body = await renderPage({
      origin: new URL(c.req.url).origin,
      modelId: id,
      manifest,
      manifestError: error,
      state: deps.models.state(id),
      config: deps.config,
      // TGI's /generate_stream serves the default model; any other model streams from its HF route.
      streamUrl: isDefault ? '/generate_stream' : `/models/${encodeURIComponent(id)}`,
      streamFlag: !isDefault,
      multiUrl: '/v1/completions',
    });
    c.header('Content-Security-Policy', CSP);
    c.header('Cache-Control', 'no-cache');
    c.header('Vary', 'Accept');
    // A model whose manifest cannot be read cannot be served either: say so in the status too.
    return c.html(body, error ? 503 : 200);
  };
}

/**
 * The page in the shape of worker/app.ts's `AppDeps.pages` hook: `root` for GET /, `model` for
 * GET /models/:model when a browser asks for HTML (the app checks the id and the Accept header).
 */
export function modelPages(deps: PageDeps): {
  root: (c: Context) => Promise<Response>;
  model: (c: Context, id: string) => Promise<Response>;
} {
  const page = createModelPage(deps);
  return { root: (c) => page(c, deps.models.defaultId), model: page };
}

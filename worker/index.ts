/**
 * The Worker entry. Per isolate (module scope, keyed by the MODEL_BUCKET binding): the config is
 * validated once, and the app is built once over the lazy R2-backed ModelProvider — nothing is
 * fetched until a request needs the model. A bad config is an operator error: every request gets a
 * 500 naming the variable (logged once), rather than the Worker guessing.
 */
import type { Hono } from 'hono';
import { createApp } from './app.ts';
import { ConfigError, parseConfig } from './config.ts';
import { manifestKey, parseManifest, type Manifest } from './model/manifest.ts';
import { modelProviderFor, wasmHeapBytes } from './model/provider.ts';
import { ModelLoadError } from './model/types.ts';
import { modelPages, pageConfigFrom } from './page/index.ts';
import { quotaFromEnv, type QuotaEnv } from './quota/env.ts';

export { KeyQuota } from './quota/durable-object.ts'; // issue 16: the per-key quota Durable Object class

export interface Env extends QuotaEnv {
  /** R2: content-addressed blobs + one manifest per model id (wrangler.toml [[r2_buckets]]). */
  MODEL_BUCKET: R2Bucket;
  DEFAULT_MODEL: string;
  MODEL_IDS?: string;
  /** Optional: other names for served models, e.g. "gpt2=edge-gpt2-small,openai-community/gpt2=edge-gpt2-small". */
  MODEL_ALIASES?: string;
  MAX_NEW_TOKENS: string;
  MAX_INPUT_TOKENS: string;
  MAX_TOTAL_TOKENS: string;
  CPU_BUDGET_MS: string;
  CORS_ORIGINS?: string;
  /** Optional: request body cap in bytes (default 1 MiB). */
  MAX_BODY_BYTES?: string;
  /** Secret (`wrangler secret put API_KEYS`), comma-separated; unset = open. */
  API_KEYS?: string;
}

type Built = { app: Hono } | { error: string };
const built = new WeakMap<object, Built>();

function build(env: Env): Built {
  const key: object = (env.MODEL_BUCKET as R2Bucket | undefined) ?? env;
  let b = built.get(key);
  if (!b) {
    try {
      const config = parseConfig(env as unknown as Record<string, unknown>);
      const models = modelProviderFor(env);
      const pages = modelPages({ models, config: pageConfigFrom(config), manifest: (id) => readManifest(env.MODEL_BUCKET, id) });
      b = { app: createApp({ models, config, pages, heapBytes: wasmHeapBytes, quota: quotaFromEnv(env) }) }; // issue 16: quota
    } catch (e) {
      const message = e instanceof ConfigError ? e.message : `invalid configuration: ${e instanceof Error ? e.message : String(e)}`;
      console.error(`[config] ${message}`);
      b = { error: message };
    }
    built.set(key, b);
  }
  return b;
}

/** Only the manifest (a small R2 read), so the model page renders without loading weights. */
async function readManifest(bucket: R2Bucket, id: string): Promise<Manifest> {
  const obj = await bucket.get(manifestKey(id));
  if (!obj) throw new ModelLoadError('manifest_missing', `no manifest for model "${id}" in the bucket (${manifestKey(id)})`);
  return parseManifest(await obj.json());
}

export default {
  fetch(request, env, ctx): Response | Promise<Response> {
    const b = build(env);
    if ('error' in b) {
      return Response.json({ error: `server misconfigured: ${b.error}`, error_type: 'config' }, { status: 500 });
    }
    return b.app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;

/**
 * The Worker entry. Per isolate (module scope, keyed by the MODEL_BUCKET binding): the config is
 * validated once, and the app is built once over the lazy R2-backed ModelProvider — nothing is
 * fetched until a request needs the model. A bad config is an operator error: every request gets a
 * 500 naming the variable (logged once), rather than the Worker guessing.
 *
 * `Env` is generated from wrangler.toml by `npm run types` (worker-configuration.d.ts; `npm run
 * types:check` fails when it is stale). The optional variables (MODEL_ALIASES, MAX_BODY_BYTES, LOAD_RETRY_BACKOFF_MS, API_KEY_QUOTAS) and the
 * API_KEYS secret are not in wrangler.toml, so not in Env: parseConfig reads them from the same record.
 */
import type { Hono } from 'hono';
import { createApp } from './app.ts';
import { ConfigError, parseConfig } from './config.ts';
import { useExpSum } from './generation/logits.ts';
import { workerdExpSum } from './kernels/workerd.ts';
import { modelProviderFor, wasmHeapBytes } from './model/provider.ts';
import { modelPages, pageConfigFrom } from './page/index.ts';
import { quotaFromEnv } from './quota/env.ts';

export { KeyQuota } from './quota/durable-object.ts'; // issue 16: the per-key quota Durable Object class

// Sampling's softmax on the WASM kernels: the same bits as the JS definition, about 3× faster.
useExpSum(workerdExpSum());

type Built = { app: Hono } | { error: string };
const built = new WeakMap<object, Built>();

function build(env: Env): Built {
  const key: object = (env.MODEL_BUCKET as R2Bucket | undefined) ?? env;
  let b = built.get(key);
  if (!b) {
    try {
      const config = parseConfig(env as unknown as Record<string, unknown>);
      const models = modelProviderFor(env.MODEL_BUCKET, {
        ids: config.modelIds,
        defaultId: config.defaultModel,
        ...(config.loadRetryBackoff ? { failureBackoff: config.loadRetryBackoff } : {}),
        ...(config.batching ? { batching: config.batching } : {}),
        ...(config.stagedModel !== undefined
          ? {
              staged: {
                id: config.stagedModel,
                bindings: env as unknown as Record<string, unknown>,
                ...(config.stageHops ? { hops: config.stageHops } : {}),
              },
            }
          : {}),
      });
      const pages = modelPages({ models, config: pageConfigFrom(config), manifest: (id) => models.manifest(id) });
      b = { app: createApp({ models, config, pages, heapBytes: wasmHeapBytes, quota: quotaFromEnv(config.apiKeyQuotas, env.KEY_QUOTA) }) };
    } catch (e) {
      const message = e instanceof ConfigError ? e.message : `invalid configuration: ${e instanceof Error ? e.message : String(e)}`;
      console.error(`[config] ${message}`);
      b = { error: message };
    }
    built.set(key, b);
  }
  return b;
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

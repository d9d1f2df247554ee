// Bindings the workerd tests see: wrangler.toml's plus the Node-side FIXTURES service (vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    MODEL_BUCKET: R2Bucket;
    FIXTURES: Fetcher;
    DEFAULT_MODEL: string;
    MODEL_IDS: string;
    KEY_QUOTA: DurableObjectNamespace;
  }
}

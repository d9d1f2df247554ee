// Bindings the workerd tests see: wrangler.toml's (Cloudflare.Env, generated into
// worker/worker-configuration.d.ts by `npm run types`) plus the Node-side FIXTURES service (vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    FIXTURES: Fetcher;
  }
}

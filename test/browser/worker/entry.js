/**
 * Test-only Worker entry for the browser tests: worker/index.ts's app plus the model page wired into
 * createApp's `pages` hook — what worker/index.ts should do (then this file goes, and
 * test/browser/global-setup.ts uses the real entry). Plain JS because the Node tsconfig that covers
 * test/browser has no Workers types (R2Bucket, ExportedHandler); wrangler bundles it like any entry.
 */
import { createApp } from '../../../worker/app.ts';
import { parseConfig } from '../../../worker/config.ts';
import { fetchManifest, r2BlobSource } from '../../../worker/model/index.ts';
import { modelProviderFor } from '../../../worker/model/provider.ts';
import { modelPages, pageConfigFrom } from '../../../worker/page/index.ts';

const built = new WeakMap();

export default {
  fetch(request, env, ctx) {
    let app = built.get(env.MODEL_BUCKET);
    if (!app) {
      const config = parseConfig(env);
      const models = modelProviderFor(env);
      const source = r2BlobSource(env.MODEL_BUCKET);
      const pages = modelPages({ models, config: pageConfigFrom(config), manifest: (id) => fetchManifest(source, id) });
      app = createApp({ models, config, pages });
      built.set(env.MODEL_BUCKET, app);
    }
    return app.fetch(request, env, ctx);
  },
};

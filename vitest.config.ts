import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { fixtureService } from './test/unit/model/fixtures/service.ts';

// Projects: `unit` runs pure logic and scripts in Node; `workerd` runs inside the real Workers runtime
// (vitest-pool-workers, wrangler.toml's bindings). Every workerd test file re-ships ORT's 14 MB .wasm
// to workerd (~15 s each), so workerd tests live in very few files.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              // Node-side service the tests use to seed R2 with model files from disk (workerd has no fs).
              serviceBindings: { FIXTURES: fixtureService },
              // Load-failure tests repair the bucket and expect the very next request to load again.
              bindings: { LOAD_RETRY_BACKOFF_MS: '0' },
            },
          }),
        ],
        test: {
          name: 'workerd',
          include: ['test/workerd/**/*.test.ts'],
          // One file at a time: the FIXTURES service runs in this (Node) process and does seconds of
          // synchronous work (conversions, ORT in Node); a parallel file's request then loses its connection.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          // A staged model in real workerd: miniflare runs a gateway, three stage Workers (one isolate
          // each) and a single-isolate reference (scripts/stages/local.ts). Slow to start (two bundles,
          // five workers compiling ORT's .wasm): one file, run alone.
          name: 'stages',
          include: ['test/stages/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          // Headless Chromium via playwright-core (test/browser/chromium.ts picks which) against the Worker: `wrangler dev` with the bundled model
          // (started once by the global setup) and an in-process Node server over a fake model.
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // One chromium and one wrangler at a time: the machines have 2 cores.
          fileParallelism: false,
        },
      },
      {
        test: {
          // scripts/reliability/run.ts --short against a real `wrangler dev` with the bundled model (a child
          // process: it starts and stops its own wrangler, with a private R2 under .tmp/reliability-r2).
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

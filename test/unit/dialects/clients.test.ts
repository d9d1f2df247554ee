import { defineClientSuite } from './client-suite.ts';
import { makeApp, testConfig } from './helpers.ts';

// In-process: the clients' fetch goes straight into app.request (no sockets). Keys are configured so
// the clients' Authorization headers are exercised too.
const { app } = makeApp({ config: testConfig({ apiKeys: ['sk-test-1', 'sk-test-2'] }) });
defineClientSuite('in-process', () => ({
  baseURL: 'http://edge-gpt2.test',
  fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
    app.request(input instanceof Request ? input : String(input), init)) as typeof fetch,
  apiKey: 'sk-test-2',
  modelId: 'edge-gpt2-brown',
}));

import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { pageRoutes, prefersHtml } from '../../../worker/page/index.ts';
import { ModelLoadError } from '../../../worker/model/types.ts';
import { fakeProvider, fixtureManifest } from './fixture.ts';

const config = { maxNewTokens: 256, maxInputTokens: 768, maxTotalTokens: 1024, authEnabled: false };
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

function setup(manifestImpl?: (id: string) => Promise<ReturnType<typeof fixtureManifest>>) {
  const m = fixtureManifest();
  const fake = fakeProvider(m);
  const reads: string[] = [];
  const manifest = manifestImpl
    ? async (id: string) => (reads.push(id), manifestImpl(id))
    : async (id: string) => (reads.push(id), m);
  // The page mounted in front of an API handler for the same path, as in worker/app.ts.
  const app = new Hono();
  app.route('/', pageRoutes({ models: fake.provider, config, manifest }));
  app.get('/models/:model', (c) => c.json({ api: c.req.param('model') }));
  return { app, reads, ...fake };
}

describe('pageRoutes', () => {
  it('GET / renders the default model from its manifest without loading the model', async () => {
    const { app, calls, reads } = setup();
    const res = await app.request('https://edge.example/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const page = await res.text();
    expect(page).toContain('<h1>edge-gpt2-small</h1>');
    expect(page).toContain("curl -N &#39;https://edge.example/generate_stream&#39;");
    expect(calls).toEqual([]); // no model load
    expect(reads).toEqual(['edge-gpt2-small']);
    await app.request('https://edge.example/');
    expect(reads).toHaveLength(1); // cached within the TTL
  });

  it('a ready model: the manifest comes from the provider', async () => {
    const { app, calls, reads, setState } = setup();
    setState({ state: 'ready' });
    const page = await (await app.request('https://edge.example/')).text();
    expect(page).toContain('loaded and ready');
    expect(calls).toEqual(['edge-gpt2-small']);
    expect(reads).toEqual([]);
  });

  it('a manifest that cannot be read: 503 with the reason, and the next view retries', async () => {
    let fail = true;
    const { app, reads } = setup(async () => {
      if (fail) throw new ModelLoadError('manifest_missing', 'no manifest at models/edge-gpt2-small/manifest.json');
      return fixtureManifest();
    });
    const res = await app.request('https://edge.example/');
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('no manifest at models/edge-gpt2-small/manifest.json');
    fail = false;
    expect((await app.request('https://edge.example/')).status).toBe(200);
    expect(reads).toHaveLength(2);
  });

  it('hides the text of unexpected errors', async () => {
    const { app } = setup(async () => {
      throw new Error('secret internals');
    });
    const page = await (await app.request('https://edge.example/')).text();
    expect(page).not.toContain('secret internals');
    expect(page).toContain('the manifest of edge-gpt2-small could not be read');
  });

  it('GET /models/:model: the page for browsers, the API for everyone else', async () => {
    const { app } = setup();
    const html = await app.request('https://edge.example/models/other-model', { headers: { Accept: BROWSER } });
    expect(html.status).toBe(200);
    const page = await html.text();
    expect(page).toContain('<h1>other-model</h1>');
    // A non-default model streams from its HF route (TGI's /generate_stream serves the default one).
    expect(page).toContain('"streamUrl":"/models/other-model","streamFlag":true');
    for (const accept of ['application/json', '*/*', '']) {
      const res = await app.request('https://edge.example/models/other-model', { headers: { Accept: accept } });
      expect(await res.json()).toEqual({ api: 'other-model' });
    }
  });

  it('an unknown model: 404 listing the served ones, without echoing the id', async () => {
    const { app } = setup();
    const res = await app.request('https://edge.example/models/%3Cscript%3E', { headers: { Accept: BROWSER } });
    expect(res.status).toBe(404);
    const page = await res.text();
    expect(page).toContain('href="/models/edge-gpt2-small"');
    expect(page).not.toContain('<script>');
  });
});

describe('prefersHtml', () => {
  it.each([
    [BROWSER, true],
    ['text/html', true],
    ['text/*', true],
    ['application/json, text/html;q=0.9', false],
    ['text/html;q=0.5, application/json;q=0.4', true],
    ['*/*', false],
    ['text/html;q=0', false],
    ['application/json', false],
    [undefined, false],
  ])('%s → %s', (accept, expected) => {
    expect(prefersHtml(accept)).toBe(expected);
  });
});

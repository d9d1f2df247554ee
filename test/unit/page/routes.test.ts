/** The page through the Worker's real app (worker/app.ts's `pages` hook), with a fake provider. */
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../../worker/app.ts';
import { parseConfig } from '../../../worker/config.ts';
import { ModelLoadError } from '../../../worker/model/types.ts';
import { modelPages, pageConfigFrom, prefersHtml } from '../../../worker/page/index.ts';
import { fakeProvider, fixtureManifest } from './fixture.ts';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

function setup(opts: { manifest?: (id: string) => Promise<ReturnType<typeof fixtureManifest>>; apiKeys?: string } = {}) {
  const m = fixtureManifest();
  const fake = fakeProvider(m);
  const reads: string[] = [];
  const read = opts.manifest ?? (async () => m);
  const config = parseConfig({
    DEFAULT_MODEL: 'edge-gpt2-brown',
    MODEL_IDS: 'edge-gpt2-brown,other-model',
    MAX_NEW_TOKENS: '256',
    MAX_INPUT_TOKENS: '768',
    MAX_TOTAL_TOKENS: '1024',
    CPU_BUDGET_MS: '25000',
    ...(opts.apiKeys ? { API_KEYS: opts.apiKeys } : {}),
  });
  const pages = modelPages({
    models: fake.provider,
    config: pageConfigFrom(config),
    manifest: async (id) => (reads.push(id), read(id)),
  });
  return { app: createApp({ models: fake.provider, config, pages }), reads, ...fake };
}

describe('the model page in the app', () => {
  it('GET / renders the default model from its manifest without loading the model', async () => {
    const { app, calls, reads } = setup();
    const res = await app.request('https://edge.example/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const page = await res.text();
    expect(page).toContain('<h1>edge-gpt2-brown</h1>');
    expect(page).toContain('curl -N &#39;https://edge.example/generate_stream&#39;');
    expect(calls).toEqual([]); // no model load
    expect(reads).toEqual(['edge-gpt2-brown']);
    await app.request('https://edge.example/');
    expect(reads).toHaveLength(1); // cached within the TTL
  });

  it('a ready model: the manifest comes from the provider', async () => {
    const { app, calls, reads, setState } = setup();
    setState({ state: 'ready' });
    const page = await (await app.request('https://edge.example/')).text();
    expect(page).toContain('loaded and ready');
    expect(calls).toEqual(['edge-gpt2-brown']);
    expect(reads).toEqual([]);
  });

  it('a manifest that cannot be read: 503 with the reason, and the next view retries', async () => {
    let fail = true;
    const { app, reads } = setup({
      manifest: async () => {
        if (fail) throw new ModelLoadError('manifest_missing', 'no manifest at models/edge-gpt2-brown/manifest.json');
        return fixtureManifest();
      },
    });
    const res = await app.request('https://edge.example/');
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('no manifest at models/edge-gpt2-brown/manifest.json');
    fail = false;
    expect((await app.request('https://edge.example/')).status).toBe(200);
    expect(reads).toHaveLength(2);
  });

  it('hides the text of unexpected errors (and logs them)', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const { app } = setup({
        manifest: async () => {
          throw new Error('secret internals');
        },
      });
      const page = await (await app.request('https://edge.example/')).text();
      expect(page).not.toContain('secret internals');
      expect(page).toContain('the manifest of edge-gpt2-brown could not be read');
      expect(log).toHaveBeenCalledOnce();
    } finally {
      log.mockRestore();
    }
  });

  it('GET /models/:model: the page for browsers, the API for everyone else', async () => {
    const { app } = setup();
    const html = await app.request('https://edge.example/models/other-model', { headers: { Accept: BROWSER } });
    expect(html.status).toBe(200);
    const page = await html.text();
    expect(page).toContain('<h1>other-model</h1>');
    // A non-default model streams from its HF route (TGI's /generate_stream serves the default one).
    expect(page).toContain('"streamUrl":"/models/other-model","streamFlag":true');
    for (const accept of ['application/json', '*/*']) {
      const res = await app.request('https://edge.example/models/other-model', { headers: { Accept: accept } });
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    }
  });

  it('with API keys: the page stays public and shows the key field', async () => {
    const { app } = setup({ apiKeys: 'k1' });
    const page = await (await app.request('https://edge.example/', { headers: { Accept: BROWSER } })).text();
    expect(page).toContain('id="p-api_key"');
    expect(page).toContain('"authEnabled":true');
    expect((await app.request('https://edge.example/models/edge-gpt2-brown', { headers: { Accept: BROWSER } })).status).toBe(200);
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

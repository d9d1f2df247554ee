/**
 * The playground against the Worker's real app over a fake model (in-process Node server): the
 * cases the real model cannot stage on demand — a loading phase with progress, and proof that Stop
 * makes the *server* stop (it counts the fake model's forward passes). The same cases against
 * `wrangler dev` and the bundled model are in playground.test.ts.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, setParams, waitIdle } from './chromium.ts';
import { fakeModelApp } from './harness/fake-app.ts';
import { serve, type NodeServer } from './harness/node-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe('playground over the app with a fake model', () => {
  let server: NodeServer;
  let fake: ReturnType<typeof fakeModelApp>;
  beforeAll(async () => {
    fake = fakeModelApp({ stepDelayMs: 40, loadSteps: 8, loadStepMs: 120 });
    server = await serve((r) => fake.app.fetch(r));
  });
  afterAll(() => server?.close());

  it('shows the load progress sent as SSE comments, then the tokens', async () => {
    const { page, problems } = await openPage(browser, server.url);
    expect(await page.locator('#model-state').textContent()).toMatch(/^not loaded yet/);
    await setParams(page, { max_new_tokens: '8', seed: '1' });
    await page.locator('#pg-generate').click();
    await page.locator('#pg-progress:not([hidden])').waitFor();
    expect(await page.locator('#pg-status').textContent()).toMatch(/^Loading the model: \d+% \([\d.]+\/35\.1 MB\)/);
    expect(await page.locator('#pg-status').getAttribute('class')).toBe('status loading');
    expect(await waitIdle(page)).toBe('Done (finish_reason length, seed 1).');
    expect(await page.locator('#pg-progress').isHidden()).toBe(true);
    expect(await page.locator('#model-state').textContent()).toBe('loaded and ready');
    expect(await page.locator('#pg-stats').textContent()).toMatch(/^8 tokens · [\d.]+ tokens\/s · first token after \d+ ms$/);
    expect(await page.locator('#pg-raw').textContent()).toMatch(/^:loading \d+%/m);
    expect(fake.counters.loads).toBe(1);
    expect(problems).toEqual([]);
  });

  it('Escape stops: the fetch is aborted and the server stops generating', async () => {
    const { page, problems } = await openPage(browser, server.url);
    const aborted: string[] = [];
    page.on('requestfailed', (r) => aborted.push(`${r.url()} ${r.failure()?.errorText}`));
    await setParams(page, { max_new_tokens: '200', seed: '2' });
    const before = fake.counters.forwards;
    await page.locator('#p-inputs').focus();
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => (document.querySelector('#pg-stats')?.textContent ?? '').match(/^([3-9]|\d\d+) tokens/));
    await page.keyboard.press('Escape');
    expect(await waitIdle(page)).toMatch(/^Stopped after \d+ tokens\.$/);
    // playwright reports the failed request over CDP, possibly after the page has gone idle.
    await expect.poll(() => aborted).toEqual([`${server.url}/generate_stream net::ERR_ABORTED`]);
    // The server notices the disconnect and stops: the forward count settles (no step in a window of
    // > 6 step delays) long before max_new_tokens. How many steps ran after the click depends on load
    // (tokens in flight when Escape was pressed), so the bound is loose: a server that kept going hits 200.
    let last = fake.counters.forwards;
    let settled = false;
    for (let i = 0; i < 40 && !settled; i++) {
      await sleep(250);
      settled = fake.counters.forwards === last;
      last = fake.counters.forwards;
    }
    expect(settled).toBe(true);
    expect(last - before).toBeLessThan(60);
    const text = await page.locator('#pg-output .gen').textContent();
    await sleep(300);
    expect(await page.locator('#pg-output .gen').textContent()).toBe(text);
    expect(problems).toEqual([]);
  });

  it('shows a validation error from the API', async () => {
    const { page } = await openPage(browser, server.url);
    await setParams(page, { temperature: '-1' });
    await page.locator('#pg-generate').click();
    expect(await waitIdle(page)).toBe('Error 422 (validation): parameters.temperature must be > 0');
  });
});

describe('a model that cannot be loaded', () => {
  let server: NodeServer;
  beforeAll(async () => {
    const fake = fakeModelApp({ stepDelayMs: 1, loadSteps: 2, loadStepMs: 50, loadError: 'blobs/abc does not match its SHA-256' });
    server = await serve((r) => fake.app.fetch(r));
  });
  afterAll(() => server?.close());

  it('shows the error event that ends the stream', async () => {
    const { page } = await openPage(browser, server.url);
    await page.locator('#pg-generate').click();
    const status = await waitIdle(page);
    expect(status).toMatch(/^Error \(model_load\): .*blobs\/abc does not match its SHA-256/);
    expect(await page.locator('#pg-status').getAttribute('class')).toBe('status error');
    expect(await page.locator('#pg-progress').isHidden()).toBe(true);
    expect(await page.locator('#model-state').textContent()).toBe('the last load failed — the next request retries');
    expect(await page.locator('#pg-raw').textContent()).toContain('"error_type":"model_load"');
  });
});

describe('keyboard and copy', () => {
  let server: NodeServer;
  beforeAll(async () => {
    const fake = fakeModelApp({ stepDelayMs: 1, loadSteps: 1, loadStepMs: 1 });
    server = await serve((r) => fake.app.fetch(r));
  });
  afterAll(() => server?.close());

  it('Tab reaches Generate with a visible focus ring, and Enter generates', async () => {
    const { page, problems } = await openPage(browser, server.url);
    await setParams(page, { max_new_tokens: '3' });
    await page.locator('#p-inputs').focus();
    const order: string[] = [];
    for (let i = 0; i < 20 && order.at(-1) !== 'pg-generate'; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    // Every field in reading order, then the button.
    expect(order).toEqual([
      'p-max_new_tokens',
      'p-temperature',
      'p-top_k',
      'p-top_p',
      'p-repetition_penalty',
      'p-seed',
      'p-num_return_sequences',
      'p-stop',
      'p-do_sample',
      'pg-generate',
    ]);
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(ring).toBe('solid');
    await page.keyboard.press('Enter');
    expect(await waitIdle(page)).toMatch(/^Done/);
    // Focus went to Stop while running and came back to Generate: no lost focus on <body>.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('pg-generate');
    expect(problems).toEqual([]);
  });

  it('Copy puts an example on the clipboard', async () => {
    const { page } = await openPage(browser, server.url, '/', ['clipboard-read', 'clipboard-write']);
    await page.locator('button[data-copy="curl-openai"]').click();
    await page.locator('button[data-copy="curl-openai"]:text-is("Copied")').waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(await page.locator('#curl-openai').textContent());
    expect(copied).toContain(`curl -N '${server.url}/v1/completions'`);
  });
});

describe('playground with API keys configured', () => {
  let server: NodeServer;
  beforeAll(async () => {
    const fake = fakeModelApp({ stepDelayMs: 1, loadSteps: 1, loadStepMs: 1, apiKeys: 'k-one,k-two' });
    server = await serve((r) => fake.app.fetch(r));
  });
  afterAll(() => server?.close());

  it('asks for a key, shows the 401, and works with a right key', async () => {
    const { page } = await openPage(browser, server.url);
    expect(await page.locator('label[for=p-api_key]').textContent()).toMatch(/^API key/);
    await setParams(page, { max_new_tokens: '4' });
    await page.locator('#pg-generate').click();
    expect(await waitIdle(page)).toMatch(/^Error 401 \(authentication\): /);
    await setParams(page, { api_key: 'k-two' });
    await page.locator('#pg-generate').click();
    expect(await waitIdle(page)).toMatch(/^Done \(finish_reason (length|eos_token)/);
  });
});

describe('several sequences', () => {
  let server: NodeServer;
  beforeAll(async () => {
    const fake = fakeModelApp({ stepDelayMs: 5, loadSteps: 1, loadStepMs: 1 });
    server = await serve((r) => fake.app.fetch(r));
  });
  afterAll(() => server?.close());

  it('num_return_sequences 3 streams three sequences from /v1/completions', async () => {
    const { page, problems } = await openPage(browser, server.url);
    const posted: { path: string; body: unknown }[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') posted.push({ path: new URL(r.url()).pathname, body: JSON.parse(r.postData() ?? 'null') });
    });
    await setParams(page, { num_return_sequences: '3', max_new_tokens: '6', seed: '9', top_k: '5', repetition_penalty: '1.2' });
    await page.locator('#pg-generate').click();
    expect(await waitIdle(page)).toMatch(/^Done \(finish_reason (length|stop)\)\.$/);
    // HF-style fields mapped onto OpenAI's (top_k / repetition_penalty as the vLLM extensions).
    expect(posted).toEqual([
      {
        path: '/v1/completions',
        body: {
          model: 'edge-gpt2-brown',
          prompt: 'The meaning of life is',
          stream: true,
          n: 3,
          max_tokens: 6,
          temperature: 0.8,
          top_k: 5,
          repetition_penalty: 1.2,
          seed: 9,
        },
      },
    ]);
    const seqs = await page.locator('#pg-output .seq').count();
    expect(seqs).toBe(3);
    const labels = await page.locator('#pg-output .seq-label').allTextContents();
    expect(labels).toEqual(['Sequence 1', 'Sequence 2', 'Sequence 3']);
    const texts = await page.locator('#pg-output .gen').allTextContents();
    expect(texts.every((t) => t.length > 0)).toBe(true);
    expect(problems).toEqual([]);
  });
});

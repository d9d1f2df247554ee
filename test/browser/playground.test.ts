/**
 * The model page in headless Chromium against `wrangler dev` serving the bundled model from local R2
 * (started in beforeAll, see bundled-worker.ts). What a visitor does: read the card, generate (tokens stream in), stop,
 * reproduce a seeded run, see an API error; a screenshot goes to test-artifacts/.
 */
import { statSync, writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBundledWorker, type BundledWorker } from './bundled-worker.ts';
import { artifactPath, launchChromium, openPage, setParams, waitIdle } from './chromium.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let browser: Browser;
let worker: BundledWorker;
let url: string;
beforeAll(async () => {
  worker = await startBundledWorker();
  url = worker.url;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

/** Records every distinct length of the generated text, from a MutationObserver in the page. */
async function watchGrowth(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { growth: number[] };
    w.growth = [];
    const out = document.getElementById('pg-output')!;
    new MutationObserver(() => {
      const n = out.querySelector('.gen')?.textContent?.length ?? 0;
      if (n !== w.growth[w.growth.length - 1]) w.growth.push(n);
    }).observe(out, { childList: true, subtree: true, characterData: true });
  });
}

async function generated(page: Page): Promise<string> {
  return (await page.locator('#pg-output .gen').textContent()) ?? '';
}

describe('the model page on wrangler dev', () => {
  it('shows the bundled model card, limits and examples with this origin', async () => {
    const { page, problems } = await openPage(browser, url);
    expect(await page.locator('h1').textContent()).toBe(worker.modelId);
    expect(await page.locator('dt:text-is("Model id") + dd').textContent()).toBe(worker.modelId);
    expect(await page.locator('dt:text-is("Quantization") + dd').textContent()).toMatch(/^(int8|fp32|q4)/);
    expect(await page.locator('dt:text-is("max_new_tokens") + dd').textContent()).toBe('256');
    expect(await page.locator('#curl-tgi').textContent()).toContain(`curl -N '${url}/generate_stream'`);
    expect(problems).toEqual([]);
    // The same page at the HF route when a browser asks for HTML.
    const hf = await openPage(browser, url, `/models/${worker.modelId}`);
    expect(await hf.page.locator('h1').textContent()).toBe(worker.modelId);
    expect(hf.problems).toEqual([]);
  });

  it('streams tokens as they arrive, and the text equals the final generated_text', async () => {
    const { page, problems } = await openPage(browser, url);
    await setParams(page, { max_new_tokens: '24', seed: '11' });
    await watchGrowth(page);
    await page.locator('#pg-generate').click();
    expect(await waitIdle(page)).toMatch(/^Done \(finish_reason (length|eos_token|stop_sequence), seed 11\)\.$/);
    const growth = await page.evaluate(() => (window as unknown as { growth: number[] }).growth);
    // Several separate updates, each longer than the last: the text arrived incrementally.
    expect(growth.filter((n) => n > 0).length).toBeGreaterThanOrEqual(3);
    expect(growth).toEqual([...growth].sort((a, b) => a - b));
    const events = ((await page.locator('#pg-raw').textContent()) ?? '').split('\n').filter((l) => l.startsWith('{'));
    const last = JSON.parse(events[events.length - 1]!);
    expect(last.generated_text).toBe(await generated(page));
    expect(last.details.seed).toBe(11);
    expect(await page.locator('#pg-stats').textContent()).toMatch(
      new RegExp(`^${last.details.generated_tokens} tokens · [\\d.]+ tokens/s`),
    );
    expect(problems).toEqual([]);
  });

  it('the same seed twice gives the same text', async () => {
    const { page } = await openPage(browser, url);
    await setParams(page, { max_new_tokens: '20', seed: '1234', temperature: '1.0', top_k: '' });
    const runs: string[] = [];
    for (let i = 0; i < 2; i++) {
      await page.locator('#pg-generate').click();
      expect(await waitIdle(page)).toMatch(/^Done/);
      runs.push(await generated(page));
    }
    expect(runs[0]!.length).toBeGreaterThan(0);
    expect(runs[1]).toBe(runs[0]);
  });

  it('Stop aborts the stream: no more tokens arrive', async () => {
    const { page, problems } = await openPage(browser, url);
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    await setParams(page, { max_new_tokens: '200', seed: '5' });
    await page.locator('#pg-generate').click();
    await page.waitForFunction(() => /^([3-9]|\d\d+) tokens/.test(document.querySelector('#pg-stats')?.textContent ?? ''));
    await page.locator('#pg-stop').click();
    expect(await waitIdle(page)).toMatch(/^Stopped after \d+ tokens\.$/);
    // Chromium reports the aborted request asynchronously: the page may show "Stopped" first.
    await expect.poll(() => failed).toEqual([`${url}/generate_stream net::ERR_ABORTED`]);
    const text = await generated(page);
    await sleep(1_000);
    expect(await generated(page)).toBe(text);
    // The Worker is free for the next request (Stop left nothing stuck).
    await setParams(page, { max_new_tokens: '3' });
    await page.locator('#pg-generate').click();
    expect(await waitIdle(page)).toMatch(/^Done/);
    expect(problems).toEqual([]);
  });

  it('an invalid parameter shows the API error', async () => {
    const { page } = await openPage(browser, url);
    await setParams(page, { temperature: '-1' });
    await page.locator('#pg-generate').click();
    expect(await waitIdle(page)).toBe('Error 422 (validation): parameters.temperature must be > 0');
    expect(await page.locator('#pg-status').getAttribute('class')).toBe('status error');
  });

  it('saves screenshots (wide and narrow) to test-artifacts/', async () => {
    const { page } = await openPage(browser, url);
    await setParams(page, { max_new_tokens: '40', seed: '42' });
    await page.locator('#pg-generate').click();
    await waitIdle(page);
    // What the page measured (tokens, tokens/s, time to first token), kept next to the screenshots.
    writeFileSync(artifactPath('model-page-stats.txt'), `${await page.locator('#pg-stats').textContent()}\n`);
    await page.locator('details summary').click();
    const wide = artifactPath('model-page.png');
    await page.screenshot({ path: wide, fullPage: true });
    // WCAG 1.4.10 reflow: at 320 CSS px nothing scrolls sideways but the code blocks themselves.
    await page.setViewportSize({ width: 320, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    const narrow = artifactPath('model-page-narrow.png');
    await page.screenshot({ path: narrow, fullPage: true });
    expect(statSync(wide).size).toBeGreaterThan(10_000);
    expect(statSync(narrow).size).toBeGreaterThan(10_000);
  });
});

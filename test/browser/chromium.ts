/**
 * Debian's chromium driven by playwright-core (`npx playwright install` cannot run here: no network;
 * CI installs `chromium` with apt). Flags: headless, no sandbox (containers), and nothing that would
 * reach the internet on its own.
 */
import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = 'test-artifacts';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page that fails the test on any script error or any request that leaves `origin`. */
export async function openPage(
  browser: Browser,
  origin: string,
  path = '/',
  permissions: string[] = [],
): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions });
  const page = await context.newPage();
  page.on('close', () => void context.close());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) problems.push(`request outside the origin: ${r.url()}`);
  });
  await page.goto(origin + path);
  return { page, problems };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return `${ARTIFACTS}/${name}`;
}

/** Fill the playground's fields (empty string clears a field). */
export async function setParams(page: Page, params: Record<string, string | boolean>): Promise<void> {
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === 'boolean') await page.locator(`#p-${k}`).setChecked(v);
    else await page.locator(`#p-${k}`).fill(v);
  }
}

/** Resolves when the playground has finished (idle again) and returns its status line. */
export async function waitIdle(page: Page, timeout = 120_000): Promise<string> {
  await page.waitForFunction(() => document.body.dataset.state === 'idle', undefined, { timeout, polling: 50 });
  return (await page.locator('#pg-status').textContent()) ?? '';
}

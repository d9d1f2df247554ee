/**
 * The Chromium the browser tests drive through playwright-core, chosen in this order:
 *   1. `CHROMIUM_PATH`, when set: any Chromium or Chrome binary;
 *   2. a system Chromium at a usual path (Debian's `/usr/bin/chromium`, …);
 *   3. the headless Chromium inside the npm package `@sparticuz/chromium` (see bundled-chromium.ts),
 *      so `npm ci && npm test` needs nothing else installed.
 * Flags: headless, no sandbox (containers, root), no GPU, and nothing that would reach the internet on
 * its own. playwright's `launch()` gives every browser a fresh temporary profile (`--user-data-dir`)
 * and removes it on close.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { bundledChromium } from './bundled-chromium.ts';

const ARTIFACTS = 'test-artifacts';

const SYSTEM_CHROMIUMS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

interface ChromiumChoice {
  executablePath: string;
  source: 'CHROMIUM_PATH' | 'system' | '@sparticuz/chromium';
  env: Record<string, string>;
}

function resolveChromium(): ChromiumChoice {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured} does not exist`);
    return { executablePath: configured, source: 'CHROMIUM_PATH', env: {} };
  }
  const system = SYSTEM_CHROMIUMS.find((p) => existsSync(p));
  if (system) return { executablePath: system, source: 'system', env: {} };
  return { ...bundledChromium(), source: '@sparticuz/chromium' };
}

export function launchChromium(): Promise<Browser> {
  const { executablePath, env } = resolveChromium();
  return chromium.launch({
    executablePath,
    env: { ...process.env, ...env },
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
  // Each page has its own context (its permissions); close it with the page. When the page closes
  // because the whole browser does, the context is already gone and close() rejects: nothing to do.
  page.on('close', () => void context.close().catch(() => undefined));
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

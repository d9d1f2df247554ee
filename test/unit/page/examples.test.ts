/**
 * The page's copy-paste examples, run as a visitor would: the curl lines through `sh`, the JS ones as
 * .mjs files with `node` (importing the real `openai` and `@huggingface/inference` packages), against
 * the Worker's app over a fake model on a local port — with and without API keys.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeModelApp } from '../../browser/harness/fake-app.ts';
import { serve, type NodeServer } from '../../browser/harness/node-server.ts';

const run = promisify(execFile);
const DIR = path.resolve('.tmp/page-examples');

function unescape(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

async function examplesFrom(url: string): Promise<Map<string, string>> {
  const page = await (await fetch(url)).text();
  return new Map([...page.matchAll(/<code id="([^"]+)">([^]*?)<\/code>/g)].map((m) => [m[1]!, unescape(m[2]!)]));
}

async function execExample(id: string, code: string, env: Record<string, string>): Promise<string> {
  const opts = { env: { ...process.env, ...env }, timeout: 60_000 };
  if (id.startsWith('curl')) return (await run('sh', ['-c', `${code} --silent --show-error --fail-with-body`], opts)).stdout;
  mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, `${id}.mjs`);
  writeFileSync(file, code);
  return (await run(process.execPath, [file], opts)).stdout;
}

for (const apiKeys of [undefined, 'key-a,key-b']) {
  describe(apiKeys ? 'examples with API keys configured' : 'examples on an open server', () => {
    let server: NodeServer;
    let examples: Map<string, string>;
    const env: Record<string, string> = apiKeys ? { API_KEY: 'key-b' } : {};
    beforeAll(async () => {
      const fake = fakeModelApp({ stepDelayMs: 0, loadSteps: 1, loadStepMs: 1, ...(apiKeys ? { apiKeys } : {}) });
      server = await serve((r) => fake.app.fetch(r));
      examples = await examplesFrom(server.url);
    });
    afterAll(() => server?.close());

    for (const id of ['curl-tgi', 'curl-hf']) {
      it(`${id}: a TGI event stream`, async () => {
        const out = await execExample(id, examples.get(id)!, env);
        const events = out
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => JSON.parse(l.slice(5)));
        // One event per token (max_new_tokens 40; the fake model may sample EOS earlier); the last has the text.
        expect(events.length).toBeGreaterThan(0);
        expect(events.length).toBeLessThanOrEqual(40);
        expect(events.slice(0, -1).every((e) => e.generated_text === null)).toBe(true);
        expect(typeof events.at(-1).generated_text).toBe('string');
      });
    }

    it('curl: OpenAI completions stream', async () => {
      const out = await execExample('curl-openai', examples.get('curl-openai')!, env);
      expect(out.trimEnd().endsWith('data: [DONE]')).toBe(true);
      expect(out).toContain('"object":"text_completion"');
    });

    it('the openai client', async () => {
      expect((await execExample('js-openai', examples.get('js-openai')!, env)).length).toBeGreaterThan(0);
    });

    it('the @huggingface/inference client', async () => {
      expect((await execExample('js-hf', examples.get('js-hf')!, env)).length).toBeGreaterThan(0);
    });
  });
}

it('a wrong key is refused (the auth examples really send $API_KEY)', async () => {
  const fake = fakeModelApp({ stepDelayMs: 0, loadSteps: 1, loadStepMs: 1, apiKeys: 'key-a' });
  const server = await serve((r) => fake.app.fetch(r));
  try {
    const examples = await examplesFrom(server.url);
    await expect(execExample('curl-tgi', examples.get('curl-tgi')!, { API_KEY: 'wrong' })).rejects.toThrow(/401/);
  } finally {
    await server.close();
  }
});

/**
 * The short reliability suite inside `npm test`: scripts/reliability/run.ts --short against a real
 * `wrangler dev` with the bundled model (1,000 hostile requests, big bodies, auth, 16 concurrent
 * seeded streams each equal to its solo run, a disconnect storm, five store faults → 503 + Retry-After
 * then recovered without a restart, a metered key's quota). The script exits 1 on any missed goal;
 * this test also reads its one summary line and asserts the figures, so a silently skipped phase
 * fails too. 503s from wrangler's dev proxy (not our code) are counted apart, as `5xx_proxy`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function runShort(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/reliability/run.ts', '--short'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

it('holds under abuse and load (short profile)', async () => {
  const { code, out } = await runShort();
  const line = out.split('\n').find((l) => l.startsWith('reliability (short): '));
  expect(line, out.slice(-4000)).toBeDefined();
  console.log(line);
  const fig = Object.fromEntries([...line!.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  // On a miss, the script's list of failures (each with its status and body) is the message.
  const at = out.indexOf('reliability: ');
  const why = (at >= 0 ? out.slice(at) : out.slice(-4000)).slice(0, 6000);
  expect(Number(fig['requests']), why).toBeGreaterThanOrEqual(1_000);
  expect(fig['5xx_ours'], why).toBe('0');
  expect(fig['hangs'], why).toBe('0');
  expect(fig['streams_equal'], why).toMatch(/^(\d+)\/\1$/);
  expect(fig['store_faults_refused'], why).toMatch(/^(\d+)\/\1$/);
  expect(fig['recovered'], why).toMatch(/^(\d+)\/\1$/);
  expect(fig['auth'], why).toMatch(/^(\d+)\/\1$/);
  // Spent up to the quota, never past it (the script also checks the 429 + Retry-After that follows).
  const [spent, quota] = (fig['quota_spent'] ?? '').split('/').map(Number);
  expect(spent, why).toBeGreaterThan(0);
  expect(spent, why).toBeLessThanOrEqual(quota!);
  expect(fig['server_up'], why).toBe('yes');
  expect(code, out.slice(-4000)).toBe(0);
});

/**
 * `npm run deploy [-- --staged <id>]`: `wrangler deploy` of the Worker (wrangler.toml), or of a staged
 * deployment written by `npm run stages` (staged/<id>/): every stage script first, the last one first (each
 * stage's NEXT_STAGE binding names the one after it, the gateway's bindings name them all), then the
 * gateway. Other arguments go to each `wrangler deploy`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const wrangler = path.join(ROOT, 'node_modules', '.bin', 'wrangler');

function deploy(config: string, rest: string[]): void {
  console.log(`[deploy] wrangler deploy -c ${path.relative(ROOT, config)}`);
  const r = spawnSync(wrangler, ['deploy', '-c', config, ...rest], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const argv = process.argv.slice(2);
const at = argv.indexOf('--staged');
if (at < 0) {
  deploy(path.join(ROOT, 'wrangler.toml'), argv);
} else {
  const id = argv[at + 1] ?? '';
  const dir = path.join(ROOT, 'staged', id);
  if (!id || !existsSync(path.join(dir, 'gateway.toml'))) {
    console.error(`[deploy] no staged/${id || '<id>'}/gateway.toml; run \`npm run stages -- <converted-dir> --id <id>\` first`);
    process.exit(2);
  }
  const rest = [...argv.slice(0, at), ...argv.slice(at + 2)];
  const stages = readdirSync(dir)
    .filter((f) => /^stage\d+\.toml$/.test(f))
    .sort((a, b) => Number(b.slice(5, -5)) - Number(a.slice(5, -5)));
  for (const f of stages) deploy(path.join(dir, f), rest);
  deploy(path.join(dir, 'gateway.toml'), rest);
}

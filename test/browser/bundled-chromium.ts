/**
 * The headless Chromium inside the npm package `@sparticuz/chromium` (a devDependency, pinned), so the
 * browser tests need nothing outside `npm ci`. The package ships brotli files in its `bin/`: the
 * headless-shell binary (`chromium.br`), its GL libraries (`swiftshader.tar.br`), the NSS/NSPR/expat
 * libraries it links against (`al2023.tar.br`, built for Amazon Linux 2023; with them the binary needs
 * nothing else but glibc) and one font (`fonts.tar.br`, not used: with only that font configured,
 * Chromium 147 aborts on the first glyph it must fall back for — "SkFontMgr_FontConfigInterface: Not
 * implemented" — so the system's fontconfig and fonts are used, as for any Chromium).
 *
 * Its own `executablePath()` unpacks into a fixed `/tmp/chromium` and reuses whatever is there, even a
 * half-written file or another version's binary, and unpacks the libraries only on AWS Lambda. So
 * this file unpacks what it needs itself into `<os tmpdir>/edge-gpt2-chromium-<version>/` (once per
 * version): into a private staging folder first, then one rename, so concurrent test runs never see a
 * partial browser.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';

export interface BundledChromium {
  executablePath: string;
  /** Environment the browser process needs: the bundled libraries. */
  env: Record<string, string>;
}

export function bundledChromium(): BundledChromium {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `@sparticuz/chromium ships a linux-x64 browser only (this is ${process.platform}-${process.arch}); ` +
        'set CHROMIUM_PATH to a Chromium or Chrome binary',
    );
  }
  // build/cjs/index.cjs → package root (its package.json is not exported, so resolve the entry point).
  const root = resolve(dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..', '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const dir = join(tmpdir(), `edge-gpt2-chromium-${version}`);
  if (!existsSync(join(dir, 'chromium'))) unpack(join(root, 'bin'), dir);
  return {
    executablePath: join(dir, 'chromium'),
    env: { LD_LIBRARY_PATH: [join(dir, 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') },
  };
}

function unpack(bin: string, dir: string): void {
  const staging = mkdtempSync(`${dir}.staging-`);
  try {
    writeFileSync(join(staging, 'chromium'), brotliDecompressSync(readFileSync(join(bin, 'chromium.br'))), {
      mode: 0o755,
    });
    for (const tar of ['swiftshader', 'al2023']) {
      untar(brotliDecompressSync(readFileSync(join(bin, `${tar}.tar.br`))), staging);
    }
    renameSync(staging, dir);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    // Another run finished the same unpack first: use its copy.
    if (existsSync(join(dir, 'chromium'))) return;
    throw e;
  }
}

/**
 * Extracts a ustar archive holding only regular files ('0') and folders ('5'), which is what the
 * package's archives hold; anything else is refused rather than half-handled.
 */
function untar(tar: Buffer, into: string): void {
  const field = (h: Buffer, at: number, len: number): string =>
    h
      .subarray(at, at + len)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  for (let off = 0; off + 512 <= tar.length;) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break; // end-of-archive block
    const prefix = field(header, 345, 155);
    const name = (prefix ? `${prefix}/` : '') + field(header, 0, 100);
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    const mode = parseInt(field(header, 100, 8).trim() || '644', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const path = resolve(into, name);
    if (path !== into && !path.startsWith(into + sep)) throw new Error(`tar entry outside the target: ${name}`);
    if (type === '5') mkdirSync(path, { recursive: true });
    else if (type === '0' || type === '\0') {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, tar.subarray(off + 512, off + 512 + size), { mode });
    } else throw new Error(`unsupported tar entry type '${type}' for ${name}`);
    off += 512 + Math.ceil(size / 512) * 512;
  }
}

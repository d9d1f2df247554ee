/**
 * `npm run eval -- --url <worker> [--dataset wikitext2|brown|lambada|file] ...` (see args.ts USAGE).
 * Progress and warnings on stderr; the result table on stdout; --json / --markdown write files.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ArgsError, parseEvalArgs, USAGE } from './args.ts';
import { EVAL_HEADER } from './paper.ts';
import { localServer } from './local.ts';
import { formatTable, mergeIntoCard, upsertMarkdown } from './report.ts';
import { runEval } from './run.ts';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let opts;
  try {
    opts = parseEvalArgs(argv, process.env);
  } catch (e) {
    if (e instanceof ArgsError) {
      console.error(`eval: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  try {
    const local = opts.local ? await localServer(opts.local, opts.model) : undefined;
    const result = await runEval(opts, {
      fetch: local?.fetch,
      server: opts.local ? `in-process worker/app.ts over ${opts.local}` : undefined,
      progress: process.stderr,
      warn: (m) => console.error(`eval: warning: ${m}`),
    });
    console.log(formatTable(result));
    if (opts.json) {
      writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
      console.error(`eval: wrote ${opts.json}`);
    }
    if (opts.markdown) {
      const existing = existsSync(opts.markdown) ? readFileSync(opts.markdown, 'utf8') : null;
      writeFileSync(opts.markdown, upsertMarkdown(existing, result, EVAL_HEADER));
      console.error(`eval: ${existing === null ? 'created' : 'updated'} ${opts.markdown} (row "${result.label}")`);
    }
    if (opts.card) {
      const card = existsSync(opts.card) ? (JSON.parse(readFileSync(opts.card, 'utf8')) as Record<string, unknown>) : {};
      writeFileSync(opts.card, `${JSON.stringify(mergeIntoCard(card, result), null, 2)}\n`);
      console.error(`eval: added the ${result.dataset} row to eval in ${opts.card}`);
    }
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    // Typed errors carry a machine-readable code and a message meant for users; anything else is a bug.
    if (typeof err.code === 'string') console.error(`eval: ${err.code}: ${err.message}`);
    else console.error(err);
    return 1;
  }
}

process.exitCode = await main();

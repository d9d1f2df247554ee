/**
 * Child process for one Node engine (a fresh process per engine: cold numbers, its own peak RSS, and
 * transformers.js's global ORT hook). Prints progress to stderr and the result as one JSON line on stdout.
 *
 *   tsx scripts/bench/node-engine.ts <json options>    (see EngineJob; run.ts builds it)
 */
import { readFileSync } from 'node:fs';
import { nativeOrt, nodeOrt, ourProbe, selfPeakRss } from './node-probe.ts';
import { coldStart, runSuite, type Probe, type SuiteOptions } from './suite.ts';
import { tfjsProbe } from './tfjs-probe.ts';

export type NodeEngine = 'node-wasm' | 'node-native' | 'tfjs-wasm' | 'tfjs-native';

export interface EngineJob {
  engine: NodeEngine;
  /** Our engines: the converted model dir (R2 layout) and id. */
  dir: string;
  id: string;
  /** transformers.js: the root holding <hfName>/ and the dtype to ask for. */
  hfRoot: string;
  hfName: string;
  dtype: string;
  corpusFile: string;
  coldOnly: boolean;
  suite: Omit<SuiteOptions, 'corpus' | 'log'>;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as EngineJob;
  const log = (l: string) => process.stderr.write(`[${job.engine}] ${l}\n`);
  const corpus = JSON.parse(readFileSync(job.corpusFile, 'utf8')) as number[];
  let probe: Probe;
  switch (job.engine) {
    case 'node-wasm':
      probe = ourProbe(job.dir, job.id, nodeOrt());
      break;
    case 'node-native':
      probe = ourProbe(job.dir, job.id, await nativeOrt(1));
      break;
    case 'tfjs-wasm':
    case 'tfjs-native':
      probe = await tfjsProbe(job.hfRoot, job.hfName, job.dtype, job.engine === 'tfjs-wasm' ? 'wasm' : 'native', log);
      break;
  }
  const result = job.coldOnly
    ? { cold: await coldStart(probe, corpus), memory: { rssPeak: selfPeakRss() } }
    : await runSuite(probe, { ...job.suite, corpus, log });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

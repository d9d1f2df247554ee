/** Command line of `npm run eval`; pure (argv in, options out) so it is unit-tested. */
import { parseArgs } from 'node:util';
import type { DatasetName } from './datasets.ts';

export interface EvalOptions {
  /** The Worker's base URL; with --local, a placeholder (requests go to the in-process app). */
  url: string;
  /** Serve this converted model directory in-process instead of calling a URL (local.ts). */
  local?: string;
  /** Model id sent in requests; default: /info's model_id. */
  model?: string;
  dataset: DatasetName;
  file?: string;
  /** Window length in tokens; default: the model's n_positions, capped by the server's max input. */
  context?: number;
  /** Default: context / 2 (rounded down). */
  stride?: number;
  /** Evaluate only the first N tokens of the dataset (quick runs). */
  maxTokens?: number;
  /** LAMBADA: only the first N examples. */
  limit?: number;
  apiKey?: string;
  concurrency: number;
  json?: string;
  markdown?: string;
  label?: string;
  /** A model card JSON (converter --card) whose `eval` gets this result's row. */
  card?: string;
  /** Skip the WikiText-2 SHA-256 check. */
  verifySha: boolean;
  progress: boolean;
}

export const USAGE = `usage: npm run eval -- (--url <worker-url> | --local <model-dir>) [options]

  --url URL            the Worker (e.g. http://127.0.0.1:8787)
  --local DIR          run the Worker's app in this process over a converted model dir
                       (blobs/ + models/<id>/manifest.json, e.g. model-shards/)
  --model ID           model id to evaluate (default: the server's /info model_id)
  --dataset NAME       wikitext2 (default) | brown | lambada | file
  --file PATH          wikitext2: wiki.test.raw (default $WIKITEXT2_FILE, else data/wikitext-2-raw/wiki.test.raw);
                       lambada: lambada_test.jsonl; file: any UTF-8 text
  --context N          window length in tokens (default: n_positions, capped by the server's max input)
  --stride N           window stride (default: context/2); N = context gives disjoint windows
  --max-tokens N       only the first N tokens of the dataset (quick runs)
  --limit N            lambada: only the first N examples
  --api-key KEY        bearer key (default: $EDGE_GPT2_API_KEY)
  --concurrency N      requests in flight (default 1)
  --json PATH          write the result as JSON
  --markdown PATH      add/replace this run's row in a markdown report (e.g. EVAL.md)
  --label NAME         row label for --markdown (e.g. int8; default: the quantization)
  --card PATH          set this result under \`eval.<dataset>\` in a model card JSON (created if
                       missing); re-convert with \`npm run convert -- ... --card PATH\` to show it on /
  --no-verify          skip the WikiText-2 SHA-256 check
  --no-progress        no progress bar on stderr`;

export class ArgsError extends Error {
  override name = 'ArgsError';
  readonly code = 'bad_args';
}

const DATASETS: readonly DatasetName[] = ['wikitext2', 'brown', 'lambada', 'file'];

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v)))
    throw new ArgsError(`--${name} must be a positive integer (got "${v}")`);
  return Number(v);
}

export function parseEvalArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): EvalOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        local: { type: 'string' },
        model: { type: 'string' },
        dataset: { type: 'string', default: 'wikitext2' },
        file: { type: 'string' },
        context: { type: 'string' },
        stride: { type: 'string' },
        'max-tokens': { type: 'string' },
        limit: { type: 'string' },
        'api-key': { type: 'string' },
        concurrency: { type: 'string', default: '1' },
        json: { type: 'string' },
        markdown: { type: 'string' },
        label: { type: 'string' },
        card: { type: 'string' },
        'no-verify': { type: 'boolean', default: false },
        'no-progress': { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    throw new ArgsError((e as Error).message);
  }
  if (!values.url === !values.local) throw new ArgsError('give exactly one of --url and --local');
  const url = values.url ?? 'http://local.invalid';
  try {
    new URL(url);
  } catch {
    throw new ArgsError(`--url is not a URL: ${url}`);
  }
  const dataset = values.dataset as DatasetName;
  if (!DATASETS.includes(dataset)) throw new ArgsError(`--dataset must be one of ${DATASETS.join(', ')} (got "${values.dataset}")`);
  const context = positiveInt('context', values.context);
  const stride = positiveInt('stride', values.stride);
  if (context !== undefined && context < 2) throw new ArgsError('--context must be >= 2');
  if (context !== undefined && stride !== undefined && stride > context)
    throw new ArgsError(`--stride (${stride}) must be <= --context (${context})`);
  return {
    url,
    local: values.local,
    model: values.model,
    dataset,
    file: values.file,
    context,
    stride,
    maxTokens: positiveInt('max-tokens', values['max-tokens']),
    limit: positiveInt('limit', values.limit),
    apiKey: values['api-key'] ?? env.EDGE_GPT2_API_KEY,
    concurrency: positiveInt('concurrency', values.concurrency) ?? 1,
    json: values.json,
    markdown: values.markdown,
    label: values.label,
    card: values.card,
    verifySha: !values['no-verify'],
    progress: !values['no-progress'],
  };
}

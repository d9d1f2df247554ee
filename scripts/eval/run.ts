/**
 * One evaluation run: ask the server what it serves, load and tokenize the dataset, score it through
 * the API, and return a flat result (printed as a table, written as JSON / a markdown row by cli.ts).
 */
import { type ClientOptions, createClient, type FetchLike } from './client.ts';
import type { EvalOptions } from './args.ts';
import {
  loadBrown,
  loadFile,
  loadWikitext2,
  readLambadaFile,
  type TextDataset,
  tokenizeDataset,
  WIKITEXT2_DEFAULT_PATH,
} from './datasets.ts';
import { parseLambada, runLambada } from './lambada.ts';
import { summarize, summarizeLambada } from './metrics.ts';
import { runPerplexity } from './perplexity.ts';
import { createProgress, type ProgressSink } from './progress.ts';
import { gpt2Tokenizer } from './tokens.ts';

export const TOKENIZER_NAME = 'GPT-2 BPE (js-tiktoken r50k_base, client-side)';
/** A sample with spaces, punctuation, digits and multi-byte UTF-8, sent to /tokenize once per run. */
const TOKENIZER_PROBE = 'The 3 quick brown foxes — naïve, “quoted” — jumped 1,024 times.\n\n  Done 🙂';

interface Common {
  label: string;
  model: string;
  quantization: string | null;
  server: string;
  dataset: string;
  dataset_description: string;
  dataset_sha256: string;
  tokenizer: string;
  /** --max-tokens (perplexity) or --limit (LAMBADA) when only part of the dataset was used. */
  subset: number | null;
  elapsed_s: number;
  date: string;
}

export interface PerplexityEvalResult extends Common {
  kind: 'perplexity';
  context: number;
  stride: number;
  n_positions: number | null;
  documents: number;
  windows: number;
  tokens_scored: number;
  bytes_scored: number;
  nll_nats: number;
  perplexity: number;
  bits_per_token: number;
  bits_per_byte: number;
}

export interface LambadaEvalResult extends Common {
  kind: 'lambada';
  examples: number;
  accuracy: number;
  perplexity: number;
  target_tokens: number;
}

export type EvalResult = PerplexityEvalResult | LambadaEvalResult;

export class EvalError extends Error {
  override name = 'EvalError';
  constructor(
    readonly code: 'context_unknown' | 'context_too_long' | 'bad_stride' | 'tokenizer_mismatch',
    message: string,
  ) {
    super(message);
  }
}

export interface EvalDeps {
  fetch?: FetchLike;
  /** Progress bar sink (stderr in the CLI); null = silent. */
  progress?: ProgressSink | null;
  /** Warnings (stderr in the CLI). */
  warn?: (msg: string) => void;
  backoffMs?: number;
  /** What the report says was measured (default: the URL). */
  server?: string;
}

export async function runEval(o: EvalOptions, deps: EvalDeps = {}): Promise<EvalResult> {
  const t0 = performance.now();
  const warn = deps.warn ?? (() => {});
  const clientOpts: ClientOptions = { baseUrl: o.url, apiKey: o.apiKey, fetch: deps.fetch, backoffMs: deps.backoffMs };
  const client = createClient(clientOpts);
  const tok = gpt2Tokenizer();
  // /tokenize first: it loads the model, after which /info reports its quantization and the limits
  // capped by its n_positions (an unloaded model's /info has only the configured limits).
  const serverIds = await client.tokenize(o.model, TOKENIZER_PROBE);
  if (serverIds === null) warn('server has no POST /tokenize: cannot confirm it tokenizes like GPT-2 (r50k_base)');
  else if (serverIds.join() !== tok.encode(TOKENIZER_PROBE).join()) {
    throw new EvalError(
      'tokenizer_mismatch',
      `the server's tokenizer differs from GPT-2's r50k_base on a probe text; token ids scored here would not be the ones the model was meant to see`,
    );
  }
  const info = await client.info();
  const model = o.model ?? info.modelId;
  // /info describes the server's default model only: another model's quantization is unknown here.
  const quantization = model === info.modelId ? info.quantization : null;
  if (model !== info.modelId) warn(`/info describes ${info.modelId}, not ${model}: quantization unknown (use --label to name the row)`);

  // The longest prompt the server takes with max_tokens 0.
  const serverMax = Math.min(info.maxInputTokens ?? Infinity, info.maxTotalTokens ?? Infinity);
  const natural = info.nPositions ?? (Number.isFinite(serverMax) ? serverMax : undefined);
  let context = o.context ?? (natural === undefined ? undefined : Math.min(natural, serverMax));
  if (context === undefined) throw new EvalError('context_unknown', '/info reports neither n_positions nor token limits: pass --context N');
  if (context > serverMax) {
    throw new EvalError(
      'context_too_long',
      `--context ${context} exceeds the server's prompt limit of ${serverMax} tokens (max_input_tokens in /info); lower --context or raise MAX_INPUT_TOKENS`,
    );
  }
  if (info.nPositions !== null && context > info.nPositions) {
    throw new EvalError('context_too_long', `--context ${context} exceeds the model's n_positions (${info.nPositions})`);
  }
  if (o.context === undefined && info.nPositions !== null && context < info.nPositions) {
    warn(
      `context capped at ${context} tokens by the server's limits (the model's n_positions is ${info.nPositions}); numbers at a shorter context are higher`,
    );
  }
  context = Math.max(2, context);
  const sink = o.progress ? (deps.progress ?? null) : null;
  const common = {
    label: o.label ?? quantization ?? model,
    model,
    quantization,
    server: deps.server ?? o.url,
    tokenizer: TOKENIZER_NAME,
    date: new Date().toISOString(),
  };

  if (o.dataset === 'lambada') {
    const file = readLambadaFile(o.file);
    const examples = parseLambada(file.content).slice(0, o.limit ?? Infinity);
    const totals = await runLambada(client, tok, examples, {
      model,
      context,
      concurrency: o.concurrency,
      progress: (n) => createProgress('lambada', n, sink),
    });
    const s = summarizeLambada(totals);
    return {
      kind: 'lambada',
      ...common,
      dataset: 'lambada',
      dataset_description: `LAMBADA (OpenAI variant) ${file.path}${o.limit ? `, first ${examples.length} examples` : ''}`,
      dataset_sha256: file.sha256,
      subset: o.limit ?? null,
      examples: s.examples,
      accuracy: s.accuracy,
      perplexity: s.perplexity,
      target_tokens: s.targetTokens,
      elapsed_s: (performance.now() - t0) / 1000,
    };
  }

  const ds: TextDataset =
    o.dataset === 'wikitext2'
      ? loadWikitext2(o.file ?? WIKITEXT2_DEFAULT_PATH, o.verifySha)
      : o.dataset === 'brown'
        ? loadBrown()
        : loadFile(o.file);
  const docs = tokenizeDataset(ds, tok.encode, o.maxTokens);
  const stride = o.stride ?? Math.max(1, Math.floor(context / 2));
  if (stride > context) throw new EvalError('bad_stride', `--stride ${stride} exceeds the context (${context})`);
  const run = await runPerplexity(client, docs, {
    model,
    context,
    stride,
    concurrency: o.concurrency,
    byteLength: tok.byteLength,
    progress: (n) => createProgress(ds.name, n, sink),
  });
  const s = summarize(run.totals);
  return {
    kind: 'perplexity',
    ...common,
    dataset: ds.name,
    dataset_description: ds.description + (o.maxTokens ? `, first ${o.maxTokens} tokens` : ''),
    dataset_sha256: ds.sha256,
    subset: o.maxTokens ?? null,
    context,
    stride,
    n_positions: info.nPositions,
    documents: docs.length,
    windows: run.windows,
    tokens_scored: s.tokens,
    bytes_scored: s.bytes,
    nll_nats: s.nll,
    perplexity: s.perplexity,
    bits_per_token: s.bitsPerToken,
    bits_per_byte: s.bitsPerByte,
    elapsed_s: (performance.now() - t0) / 1000,
  };
}

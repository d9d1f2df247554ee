/**
 * Model card facts: pure functions from a manifest (and the server's limits) to labelled values.
 * Rendering (escaping, markup) lives in render.ts; nothing here produces HTML.
 */
import { stageGraphs, type Manifest } from '../model/manifest.ts';
import { modelLimits } from '../service/limits.ts';
import type { PageConfig } from './types.ts';

export interface Fact {
  label: string;
  value: string;
  /** A flat object's fields, shown as a nested list (value is then their one-line summary). */
  items?: Fact[];
}

/** Bytes for people: decimal MB like `wrangler` and R2's dashboard (1 MB = 1e6 bytes). */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** 124439808 → "124.4 M". */
function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export interface ShardSummary {
  shards: number;
  shardBytes: number;
  graphs: number;
  graphBytes: number;
}

export function shardSummary(m: Manifest): ShardSummary {
  let shards = 0;
  let shardBytes = 0;
  let graphBytes = 0;
  for (const stage of m.stages) {
    shards += stage.shards.length;
    for (const s of stage.shards) shardBytes += s.bytes;
    for (const g of stageGraphs(stage)) graphBytes += g.bytes;
  }
  // host-attention: the embedding / LM head and position tables are weight blobs too
  for (const t of m.host ? [m.host.wte, m.host.wte_scale, m.host.wpe] : []) {
    if (!t) continue;
    shards++;
    shardBytes += t.bytes;
  }
  return { shards, shardBytes, graphs: m.stages.reduce((n, st) => n + stageGraphs(st).length, 0), graphBytes };
}

/** The architecture and artifact facts of the model card, in display order. */
export function modelFacts(m: Manifest): Fact[] {
  const c = m.config;
  const s = shardSummary(m);
  const quant = m.quantization.block_size ? `${m.quantization.method} (block ${m.quantization.block_size})` : m.quantization.method;
  const total = s.shardBytes + s.graphBytes + m.tokenizer.bytes;
  return [
    { label: 'Model id', value: m.id },
    { label: 'Architecture', value: c.architecture },
    { label: 'Parameters', value: `${formatCount(c.parameters)} (${c.parameters.toLocaleString('en-US')})` },
    { label: 'Layers / heads / width', value: `${c.n_layer} / ${c.n_head} / ${c.n_embd} (head dim ${c.n_embd / c.n_head})` },
    { label: 'Context', value: `${c.n_positions} tokens` },
    { label: 'Vocabulary', value: `${c.vocab_size} tokens (EOS id ${c.eos_token_id})` },
    { label: 'Quantization', value: quant },
    {
      label: 'Shards',
      value: `${s.shards} shard${s.shards === 1 ? '' : 's'}, ${formatBytes(s.shardBytes)} in ${s.graphs} ${m.host ? 'segment' : 'stage'} graph${s.graphs === 1 ? '' : 's'} (${formatBytes(s.graphBytes)}); ${formatBytes(total)} with tokenizer`,
    },
    {
      label: 'Attention',
      value: m.host
        ? "in the Worker's WASM kernels, KV cache kept there between steps (host-attention)"
        : 'inside the ONNX graph (MultiHeadAttention with past/present key-values)',
    },
    { label: 'Tokenizer', value: `${m.tokenizer.format} (${formatBytes(m.tokenizer.bytes)})` },
    { label: 'KV cache', value: `${m.kv_dtype}, ${formatBytes(m.memory.kv_cache_bytes_per_token)} per token` },
    {
      label: 'Memory estimate',
      value: `${formatBytes(m.memory.wasm_heap_estimate_bytes)} WASM heap at full context (weights ${formatBytes(m.memory.weights_bytes)})`,
    },
    { label: 'Source', value: `${m.source.name}, converted by ${m.source.converter} on ${m.created_at}` },
  ];
}

/** The server's limits as the routes enforce them: capped by the model's context when it is known. */
export function limitFacts(config: PageConfig, m: Manifest | null): Fact[] {
  const l = m ? modelLimits(config, m.config.n_positions) : config;
  const facts: Fact[] = [
    { label: 'max_new_tokens', value: String(l.maxNewTokens) },
    { label: 'max_input_tokens', value: String(l.maxInputTokens) },
    { label: 'max_total_tokens', value: String(l.maxTotalTokens) },
  ];
  if (config.cpuBudgetMs !== undefined) {
    facts.push({ label: 'Time budget per request', value: `${(config.cpuBudgetMs / 1000).toFixed(1)} s` });
  }
  facts.push({
    label: 'Authentication',
    value: config.authEnabled ? 'API key required (Authorization: Bearer <key>)' : 'open (no API key configured)',
  });
  return facts;
}

/** The card's text fields, in this order; `eval` is a table (see evalTable). */
const CARD_TEXT_FIELDS = ['description', 'training', 'license', 'limitations', 'citation'] as const;

const isScalar = (v: unknown): boolean => v === null || ['string', 'number', 'boolean'].includes(typeof v);

function cardValue(v: unknown): string {
  if (typeof v === 'string') return v;
  // A flat object reads better as "k: v, k: v" than as JSON; anything deeper stays JSON.
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(isScalar)) {
    return Object.entries(v)
      .map(([k, x]) => `${k}: ${String(x)}`)
      .join(', ');
  }
  return JSON.stringify(v);
}

/**
 * Card fields as labelled strings: known fields first, then the others; `eval` is left to evalTable,
 * and a string `description` to the page's header (where render.ts puts it).
 */
export function cardFacts(card: Record<string, unknown> | undefined): Fact[] {
  if (!card) return [];
  const keys = [
    ...CARD_TEXT_FIELDS.filter((k) => k in card),
    ...Object.keys(card).filter((k) => k !== 'eval' && !(CARD_TEXT_FIELDS as readonly string[]).includes(k)),
  ];
  const out: Fact[] = [];
  for (const k of keys) {
    const v = card[k];
    if (v === undefined || v === null || v === '') continue;
    if (k === 'description' && typeof v === 'string') continue;
    if (typeof v === 'object' && Object.keys(v).length === 0) continue; // [] or {}: nothing to say
    const flat = typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(isScalar);
    out.push({
      label: k,
      value: cardValue(v),
      ...(flat ? { items: Object.entries(v).map(([ik, x]) => ({ label: ik, value: String(x) })) } : {}),
    });
  }
  return out;
}

export interface Table {
  columns: string[];
  rows: string[][];
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const EVAL_METRICS = ['perplexity', 'bits_per_byte', 'accuracy'];
// Metrics right after the row's name, so they stay in view when the table scrolls sideways.
const EVAL_COLUMNS = ['label', 'dataset', ...EVAL_METRICS, 'quantization', 'context', 'stride', 'tokens_scored', 'examples'];

/**
 * `card.eval` as a table. The eval tool's output shape is not part of the manifest contract, so accept
 * the shapes it can reasonably take: an array of row objects, an object of row objects keyed by name
 * (dataset/label), or one flat object of metrics. Anything else → null (shown as JSON by cardFacts' caller).
 */
export function evalTable(ev: unknown): Table | null {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  let named: [string | null, Record<string, unknown>][];
  if (Array.isArray(ev) && ev.length > 0 && ev.every(isObj)) named = ev.map((r) => [null, r]);
  else if (isObj(ev) && Object.values(ev).length > 0 && Object.values(ev).every(isObj))
    named = Object.entries(ev).map(([k, r]) => [k, r as Record<string, unknown>]);
  else if (isObj(ev) && Object.keys(ev).length > 0) named = [[null, ev]];
  else return null;
  let columns: string[] = [];
  for (const [, r] of named) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  // Rows written by `npm run eval --json` carry ~20 fields (sha, dates, byte counts): show the ones a
  // reader compares, in this order.
  if (columns.some((c) => EVAL_METRICS.includes(c))) columns = EVAL_COLUMNS.filter((c) => columns.includes(c));
  const hasNames = named.some(([n]) => n !== null);
  const rows = named.map(([n, r]) => [...(hasNames ? [n ?? ''] : []), ...columns.map((k) => cell(r[k]))]);
  return { columns: hasNames ? ['', ...columns] : columns, rows };
}

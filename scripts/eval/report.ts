/**
 * Presenting results: a plain-text table for the terminal and rows in a markdown report (EVAL.md).
 * The markdown report keeps one table per dataset between HTML comment markers; a run replaces the
 * row with its label (or adds one), so re-running a conversion updates its numbers in place.
 */
import type { EvalResult } from './run.ts';

const fix = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

/** Key/value lines for the terminal. */
export function formatTable(r: EvalResult): string {
  const rows: [string, string][] = [
    ['model', `${r.model} (${r.quantization ?? 'quantization unknown'})`],
    ['server', r.server],
    ['dataset', r.dataset_description],
    ['sha256', r.dataset_sha256],
  ];
  if (r.kind === 'perplexity') {
    rows.push(
      [
        'context / stride',
        `${r.context} / ${r.stride} tokens${r.n_positions !== null && r.context < r.n_positions ? ` (n_positions ${r.n_positions})` : ''}`,
      ],
      ['windows', `${r.windows} over ${r.documents} document(s)`],
      ['tokens scored', `${r.tokens_scored} (${r.bytes_scored} UTF-8 bytes)`],
      ['perplexity', fix(r.perplexity, 3)],
      ['bits per byte', fix(r.bits_per_byte, 4)],
      ['bits per token', fix(r.bits_per_token, 4)],
    );
  } else {
    rows.push(
      ['examples', String(r.examples)],
      ['accuracy', `${fix(r.accuracy * 100, 2)} %`],
      ['perplexity (target word)', fix(r.perplexity, 2)],
    );
  }
  rows.push(['elapsed', `${fix(r.elapsed_s, 1)} s`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

interface Section {
  title: string;
  /** The last column is always DELTA, filled in by withDeltas. */
  columns: string[];
  row: (r: EvalResult) => string[];
  /** The column compared with the fp32 row, and how: relative change (ppl) or points (accuracy %). */
  metric: string;
  delta: 'relative' | 'points';
}

const DELTA = 'vs fp32';

function section(r: EvalResult): Section {
  if (r.kind === 'lambada') {
    return {
      title: 'LAMBADA (OpenAI variant, last-word accuracy by greedy generation)',
      columns: ['label', 'model', 'quantization', 'accuracy %', 'ppl (target word)', 'examples', 'date', DELTA],
      row: (x) => {
        const l = x as typeof r;
        return [
          l.label,
          l.model,
          l.quantization ?? '?',
          fix(l.accuracy * 100, 2),
          fix(l.perplexity, 2),
          String(l.examples),
          l.date.slice(0, 10),
          '',
        ];
      },
      metric: 'accuracy %',
      delta: 'points',
    };
  }
  const title =
    r.dataset === 'wikitext2'
      ? 'WikiText-2 raw test (one stream, strided sliding window)'
      : r.dataset === 'brown'
        ? 'Brown held-out documents (our training split; one stream, documents separated by <|endoftext|>)'
        : `File ${r.dataset_description}`;
  return {
    title,
    columns: ['label', 'model', 'quantization', 'perplexity', 'bits/byte', 'tokens scored', 'context', 'stride', 'date', DELTA],
    row: (x) => {
      const p = x as typeof r;
      return [
        p.label,
        p.model,
        p.quantization ?? '?',
        fix(p.perplexity, 3),
        fix(p.bits_per_byte, 4),
        String(p.tokens_scored),
        String(p.context),
        String(p.stride),
        p.date.slice(0, 10),
        '',
      ];
    },
    metric: 'perplexity',
    delta: 'relative',
  };
}

/** A table's key: dataset plus its sha, so numbers from different files never share a table. */
function sectionKey(r: EvalResult): string {
  return `${r.dataset}-${r.dataset_sha256.slice(0, 12)}${r.subset !== null ? `-first${r.subset}` : ''}`;
}

/** Markdown would read `<|endoftext|>` as an HTML tag and drop it: show such tokens as code. */
const mdText = (s: string): string => s.replace(/<\|[a-z_]+\|>/g, (t) => `\`${t}\``);
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
const cells = (l: string): string[] => l.trim().replace(/^\| /, '').replace(/ \|$/, '').split(' | ');

/**
 * Fill the DELTA column of every row against the fp32 row (label or quantization "fp32") measured on
 * the same tokens: the cost of each quantization, side by side. Empty when there is no fp32 row.
 */
function withDeltas(head: string, rows: string[], s: Section): string[] {
  const cols = cells(head);
  const m = cols.indexOf(s.metric);
  const d = cols.indexOf(DELTA);
  const q = cols.indexOf('quantization');
  const parsed = rows.map(cells);
  const base = parsed.find((c) => c[0] === 'fp32') ?? parsed.find((c) => c[q] === 'fp32');
  const ref = base ? Number(base[m]) : Number.NaN;
  return parsed.map((c) => {
    if (d < 0) return line(c);
    const v = Number(c[m]);
    let out = '';
    if (Number.isFinite(ref) && Number.isFinite(v) && c !== base) {
      const pct = ((v - ref) / ref) * 100;
      // Small costs matter (int8 is often < 0.1 %): one more digit there so they do not read as zero.
      out =
        s.delta === 'relative'
          ? `${v >= ref ? '+' : ''}${pct.toFixed(Math.abs(pct) < 0.1 ? 3 : 2)} %`
          : `${v >= ref ? '+' : ''}${(v - ref).toFixed(2)} pts`;
    }
    c[d] = out;
    return line(c);
  });
}

/** `existing` report (or null for a new file, which gets `header`) with r's row added or replaced. */
export function upsertMarkdown(existing: string | null, r: EvalResult, header: string): string {
  const doc = existing ?? header;
  const s = section(r);
  const key = sectionKey(r);
  const open = `<!-- eval-table ${key} -->`;
  const close = `<!-- /eval-table ${key} -->`;
  const newRow = line(s.row(r));
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  if (start < 0 || end < start) {
    const block = [
      `### ${mdText(s.title)}`,
      '',
      `Dataset SHA-256 \`${r.dataset_sha256}\`; ${mdText(r.dataset_description)}.`,
      '',
      open,
      line(s.columns),
      line(s.columns.map(() => '---')),
      ...withDeltas(line(s.columns), [newRow], s),
      close,
    ].join('\n');
    return `${doc.replace(/\n*$/, '')}\n\n${block}\n`;
  }
  const body = doc
    .slice(start + open.length, end)
    .split('\n')
    .filter((l) => l.trim() !== '');
  const [head, rule, ...rows] = body;
  const labelCell = `| ${cell(r.label)} |`;
  const i = rows.findIndex((l) => l.startsWith(labelCell));
  if (i >= 0) rows[i] = newRow;
  else rows.push(newRow);
  return `${doc.slice(0, start + open.length)}\n${[head, rule, ...withDeltas(head ?? '', rows, s)].join('\n')}\n${doc.slice(end)}`;
}

/** The compact row a model card carries (`card.eval[<dataset>]`, shown on the model's page). */
export function cardRow(r: EvalResult): Record<string, string | number> {
  const base = { quantization: r.quantization ?? '?', date: r.date.slice(0, 10) };
  if (r.kind === 'lambada') {
    return { ...base, 'accuracy %': round(r.accuracy * 100, 2), 'ppl (target word)': round(r.perplexity, 2), examples: r.examples };
  }
  return {
    ...base,
    perplexity: round(r.perplexity, 3),
    'bits/byte': round(r.bits_per_byte, 4),
    tokens: r.tokens_scored,
    context: r.context,
    stride: r.stride,
  };
}

/** `card` (a converter --card JSON) with r's row set under `eval[<dataset>]`; other rows kept. */
export function mergeIntoCard(card: Record<string, unknown>, r: EvalResult): Record<string, unknown> {
  const prev = card.eval;
  const ev = typeof prev === 'object' && prev !== null && !Array.isArray(prev) ? { ...(prev as Record<string, unknown>) } : {};
  const name = r.subset !== null ? `${r.dataset} (first ${r.subset})` : r.dataset;
  ev[name] = cardRow(r);
  return { ...card, eval: ev };
}

const round = (x: number, d: number): number => Number(x.toFixed(d));

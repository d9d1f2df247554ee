import { describe, expect, it } from 'vitest';
import { EVAL_HEADER } from '../../../scripts/eval/paper.ts';
import { formatTable, mergeIntoCard, upsertMarkdown } from '../../../scripts/eval/report.ts';
import type { LambadaEvalResult, PerplexityEvalResult } from '../../../scripts/eval/run.ts';

const ppl = (label: string, perplexity: number, sha = 'a'.repeat(64)): PerplexityEvalResult => ({
  kind: 'perplexity',
  label,
  model: 'edge-gpt2-brown',
  quantization: label,
  server: 'http://127.0.0.1:8787',
  dataset: 'wikitext2',
  dataset_description: 'WikiText-2 raw v1 test (wiki.test.raw), one stream',
  dataset_sha256: sha,
  tokenizer: 'GPT-2',
  subset: null,
  elapsed_s: 12.5,
  date: '2026-11-25T17:00:00.000Z',
  context: 1024,
  stride: 512,
  n_positions: 1024,
  documents: 1,
  windows: 559,
  tokens_scored: 286177,
  bytes_scored: 1290546,
  nll_nats: 1,
  perplexity,
  bits_per_token: 5,
  bits_per_byte: 1.2345678,
});

const lambada: LambadaEvalResult = {
  kind: 'lambada',
  label: 'fp32',
  model: 'gpt2',
  quantization: 'fp32',
  server: 'http://x',
  dataset: 'lambada',
  dataset_description: 'LAMBADA',
  dataset_sha256: 'b'.repeat(64),
  tokenizer: 'GPT-2',
  subset: null,
  elapsed_s: 1,
  date: '2026-11-25T17:00:00.000Z',
  examples: 5153,
  accuracy: 0.4599,
  perplexity: 35.13,
  target_tokens: 6000,
};

describe('upsertMarkdown', () => {
  it('a new report starts with the header (paper numbers) and gets a table for the dataset', () => {
    const md = upsertMarkdown(null, ppl('int8', 40.5), EVAL_HEADER);
    expect(md.startsWith('# Evaluation')).toBe(true);
    expect(md).toContain('| 117M | 35.13 | 45.99 |');
    expect(md).toContain('29.41');
    expect(md).toMatch(/\| int8 \| edge-gpt2-brown \| int8 \| 40\.500 \| 1\.2346 \| 286177 \| 1024 \| 512 \| 2026-11-25 \| {2}\|/);
  });

  it('adds rows with new labels, replaces a row with the same label, keeps the rest of the file', () => {
    let md = upsertMarkdown(null, ppl('fp32', 40.1), EVAL_HEADER);
    md = upsertMarkdown(md, ppl('int8', 40.5), EVAL_HEADER);
    md = upsertMarkdown(md, ppl('q4', 44.0), EVAL_HEADER);
    md = upsertMarkdown(md, ppl('int8', 40.4), EVAL_HEADER);
    const rows = md.split('\n').filter((l) => /^\| (fp32|int8|q4) \|/.test(l));
    expect(rows.map((r) => r.split('|')[1]!.trim())).toEqual(['fp32', 'int8', 'q4']);
    expect(md).toContain('| 40.400 |');
    expect(md).not.toContain('| 40.500 |');
    // The cost of each quantization against the fp32 row of the same table.
    expect(rows[0]).toMatch(/\| {2}\|$/);
    expect(rows[1]).toMatch(/\| \+0\.75 % \|$/);
    expect(rows[2]).toMatch(/\| \+9\.73 % \|$/);
    expect(upsertMarkdown(md, ppl('int8', 40.102), EVAL_HEADER)).toContain('| +0.005 % |');
    expect(md.match(/^# Evaluation/gm)).toHaveLength(1);
  });

  it('another dataset, or the same dataset with another SHA, gets its own table', () => {
    let md = upsertMarkdown(null, ppl('int8', 40.5), EVAL_HEADER);
    md = upsertMarkdown(md, lambada, EVAL_HEADER);
    md = upsertMarkdown(md, ppl('int8', 50, 'c'.repeat(64)), EVAL_HEADER);
    expect(md.match(/<!-- eval-table /g)).toHaveLength(3);
    expect(md).toContain('| fp32 | gpt2 | fp32 | 45.99 | 35.13 | 5153 | 2026-11-25 |  |');
    const worse = { ...lambada, label: 'q4', quantization: 'q4', accuracy: 0.4412 };
    expect(upsertMarkdown(md, worse, EVAL_HEADER)).toContain('| q4 | gpt2 | q4 | 44.12 | 35.13 | 5153 | 2026-11-25 | -1.87 pts |');
  });

  it('special tokens in titles and descriptions are shown as code, not swallowed as HTML', () => {
    const brown = { ...ppl('int8', 40), dataset: 'brown', dataset_description: 'docs each followed by <|endoftext|>' };
    const md = upsertMarkdown(null, brown, EVAL_HEADER);
    expect(md).toContain('followed by `<|endoftext|>`.');
    expect(md).not.toMatch(/[^`]<\|endoftext\|>[^`]/);
  });
});

describe('formatTable', () => {
  it('shows the numbers a reader checks first', () => {
    const t = formatTable(ppl('int8', 40.5));
    expect(t).toMatch(/perplexity\s+40\.500/);
    expect(t).toMatch(/bits per byte\s+1\.2346/);
    expect(t).toMatch(/context \/ stride\s+1024 \/ 512 tokens/);
    expect(formatTable(lambada)).toMatch(/accuracy\s+45\.99 %/);
  });
});

describe('mergeIntoCard', () => {
  it('sets eval.<dataset> and keeps the card and other rows', () => {
    const card = { description: 'small', eval: { brown: { perplexity: 99 } } };
    const out = mergeIntoCard(card, ppl('int8', 40.51234));
    expect(out.description).toBe('small');
    expect(out.eval).toEqual({
      brown: { perplexity: 99 },
      wikitext2: {
        quantization: 'int8',
        date: '2026-11-25',
        perplexity: 40.512,
        'bits/byte': 1.2346,
        tokens: 286177,
        context: 1024,
        stride: 512,
      },
    });
    expect(card.eval).toEqual({ brown: { perplexity: 99 } }); // not mutated
    expect((mergeIntoCard({}, lambada).eval as Record<string, unknown>).lambada).toMatchObject({ 'accuracy %': 45.99 });
  });
});

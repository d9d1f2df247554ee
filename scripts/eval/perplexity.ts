/**
 * Perplexity of token streams through the API: plan strided windows per document (windows.ts), score
 * each window's prompt with one `/v1/completions` echo request, and add up the counted tokens
 * (metrics.ts). Documents are independent streams: a window never spans two documents, and the first
 * token of every document is unscored (nothing precedes it).
 */
import type { ApiClient } from './client.ts';
import { addTotals, emptyTotals, type NllTotals, windowTotals } from './metrics.ts';
import { mapLimit } from '../../worker/model/retry.ts';
import type { Progress } from './progress.ts';
import { planWindows, type Window } from './windows.ts';

export interface PerplexityRun {
  totals: NllTotals;
  windows: number;
  /** Tokens sent in prompts (context included): the request cost. */
  promptTokens: number;
}

export interface PerplexityOptions {
  model: string;
  context: number;
  stride: number;
  concurrency: number;
  byteLength: (id: number) => number;
  /** Called with a progress bar sized to the number of windows, before the first request. */
  progress?: (totalWindows: number) => Progress;
}

export function planDocuments(docs: readonly (readonly number[])[], context: number, stride: number): { doc: number; w: Window }[] {
  return docs.flatMap((ids, doc) => planWindows(ids.length, context, stride).map((w) => ({ doc, w })));
}

export async function runPerplexity(client: ApiClient, docs: readonly (readonly number[])[], o: PerplexityOptions): Promise<PerplexityRun> {
  const jobs = planDocuments(docs, o.context, o.stride);
  const bar = o.progress?.(jobs.length);
  let done = 0;
  let scored = 0;
  const parts = await mapLimit(jobs, o.concurrency, async ({ doc, w }) => {
    const ids = docs[doc]!.slice(w.begin, w.end); // [end - begin] prompt of this window
    const logprobs = await client.score(o.model, ids);
    const t = windowTotals(logprobs, w.scoreFrom - w.begin, ids.map(o.byteLength));
    done += 1;
    scored += t.tokens;
    bar?.update(done, `${scored} tok`);
    return t;
  });
  // Summed in plan order, not completion order: the total is the same whatever the concurrency.
  const totals = parts.reduce(addTotals, emptyTotals());
  bar?.finish(`${totals.tokens} tok`);
  return { totals, windows: jobs.length, promptTokens: jobs.reduce((s, { w }) => s + w.end - w.begin, 0) };
}

/**
 * LAMBADA last-word prediction, the "OpenAI" variant that GPT-2 was evaluated on and lm-eval-harness
 * calls `lambada_openai`: `lambada_test.jsonl`, 5,153 passages, one `{"text": ...}` per line (a .txt
 * with one passage per line is accepted too). The target is the passage's last space-separated word,
 * with its leading space; the context is everything before that space.
 *
 * Per example, two requests:
 *  - score context+target (echo, max_tokens 0): log p(target tokens | context) → perplexity, which is
 *    exp(mean over examples of the target's total NLL), as lm-eval reports it;
 *  - greedy continuation of the context for as many tokens as the target has: correct iff the
 *    generated text is exactly the target (" word"). This is lm-eval's `acc` (every target token is
 *    the argmax) checked by generation, without the GPT-2 paper's stop-word filtering.
 */
import type { ApiClient } from './client.ts';
import type { LambadaTotals } from './metrics.ts';
import { mapLimit } from '../../worker/model/retry.ts';
import type { Progress } from './progress.ts';
import type { EvalTokenizer } from './tokens.ts';

export interface LambadaExample {
  context: string;
  /** The last word with its leading space, e.g. " dog". */
  target: string;
}

export class LambadaError extends Error {
  override name = 'LambadaError';
  constructor(
    readonly code: 'bad_line' | 'empty' | 'bad_response',
    message: string,
  ) {
    super(message);
  }
}

/** Passages from a jsonl (`{"text": ...}` per line) or plain text (one passage per line) file. */
export function parseLambada(content: string): LambadaExample[] {
  const out: LambadaExample[] = [];
  content.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let text = line;
    if (line.trimStart().startsWith('{')) {
      let j: unknown;
      try {
        j = JSON.parse(line);
      } catch {
        throw new LambadaError('bad_line', `line ${i + 1}: not valid JSON`);
      }
      const t = (j as { text?: unknown }).text;
      if (typeof t !== 'string') throw new LambadaError('bad_line', `line ${i + 1}: expected {"text": string}`);
      text = t;
    }
    text = text.trimEnd();
    const cut = text.lastIndexOf(' ');
    if (cut <= 0) throw new LambadaError('bad_line', `line ${i + 1}: a passage needs a context and a last word`);
    out.push({ context: text.slice(0, cut), target: text.slice(cut) });
  });
  if (out.length === 0) throw new LambadaError('empty', 'no LAMBADA passage found in the file');
  return out;
}

export interface LambadaOptions {
  model: string;
  /** Longest prompt the server takes; longer contexts are cut from the left. */
  context: number;
  concurrency: number;
  progress?: (total: number) => Progress;
}

export async function runLambada(
  client: ApiClient,
  tok: EvalTokenizer,
  examples: readonly LambadaExample[],
  o: LambadaOptions,
): Promise<LambadaTotals> {
  const bar = o.progress?.(examples.length);
  let done = 0;
  let correct = 0;
  const results = await mapLimit(examples, o.concurrency, async (ex) => {
    const target = tok.encode(ex.target);
    const context = tok.encode(ex.context).slice(-Math.max(1, o.context - target.length)); // keep the nearest context
    const [logprobs, generated] = await Promise.all([
      client.score(o.model, [...context, ...target]),
      client.greedy(o.model, context, target.length),
    ]);
    let nll = 0;
    for (let i = context.length; i < logprobs.length; i++) nll -= logprobs[i] ?? Number.NaN;
    const ok = generated === ex.target;
    done += 1;
    if (ok) correct += 1;
    bar?.update(done, `acc ${((correct / done) * 100).toFixed(1)}%`);
    return { ok, nll, targetTokens: target.length };
  });
  const totals: LambadaTotals = { examples: results.length, correct: 0, nll: 0, targetTokens: 0 };
  for (const r of results) {
    totals.correct += r.ok ? 1 : 0;
    totals.nll += r.nll;
    totals.targetTokens += r.targetTokens;
  }
  bar?.finish(`acc ${((totals.correct / totals.examples) * 100).toFixed(2)}%`);
  if (!Number.isFinite(totals.nll)) throw new LambadaError('bad_response', 'a target logprob was missing from the server response');
  return totals;
}

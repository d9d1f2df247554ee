/**
 * The generation loop. Reads top to bottom: prefill once → prompt scores → per step: processors,
 * sample, logprob, append, detokenize, stop? → token events → drop finished rows → forward the live
 * rows. The KV cache is always released in `finally`: on completion, on error, on abort, and when the
 * consumer stops iterating (`return()` on the generator).
 */
import { CpuMeter, type CostPrior } from './cpu-meter.ts';
import { DEFAULT_COST_PRIOR } from './defaults.ts';
import { GenerationError } from './errors.ts';
import { assertParams } from './params.ts';
import { PREFILL_CHUNK, PROMPT_CHUNK, PromptScorer } from './prompt.ts';
import { Rng } from './rng.ts';
import { createWorkspace, Sequence, type Pick } from './sequence.ts';
import type { CausalLM, ForwardResult, GenerationEvent, GenerationParams, KVCache, LengthLimit, TextTokenizer } from './types.ts';

export interface GenerateOptions {
  signal?: AbortSignal; // client went away: stop at the next step, release the cache, end without further events
  now?: () => number; // clock for the CPU budget (default performance.now)
  onStep?: (info: { step: number; batch: number; past: number }) => void; // observability hook (tests count steps)
  /** Cost model prior for the CPU budget (default DEFAULT_COST_PRIOR; see cpu-meter.ts). */
  costPrior?: CostPrior;
  /**
   * Token quota: called before work that produces `tokens` tokens (prompt + each sequence's first
   * token before the prefill, then each decode step's batch). false ends the live sequences with
   * finish_reason 'length' (limit 'quota'); it may throw (the first call's refusal is the caller's 429).
   */
  admit?: (tokens: number) => Promise<boolean>;
}

/**
 * One turn of the event loop (a macrotask, not a microtask). The forward pass only ever awaits
 * microtasks, so without this a non-streaming request's loop never lets the runtime deliver the
 * client's disconnect (request.signal's abort event) until the whole generation is done.
 */
function yieldToEventLoop(): Promise<void> {
  // setImmediate where there is one (Node; workerd with nodejs_compat): Node clamps setTimeout(0) to 1 ms.
  const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(() => resolve()) : setTimeout(resolve, 0)));
}

export async function* generate(
  lm: CausalLM,
  tokenizer: TextTokenizer,
  promptIds: readonly number[],
  params: GenerationParams,
  opts: GenerateOptions = {},
): AsyncGenerator<GenerationEvent, void, undefined> {
  assertParams(params);
  const { signal, onStep } = opts;
  const { vocabSize: V, nPositions } = lm.config;
  // An empty prompt is conditioned on BOS, as HF generate does (`<|endoftext|>` for GPT-2).
  const input = promptIds.length > 0 ? promptIds : [lm.config.bosTokenId];
  if (input.length > nPositions) {
    throw new GenerationError('context_overflow', `prompt is ${input.length} tokens, over the context of ${nPositions}`);
  }
  const meter = new CpuMeter(params.cpuBudgetMs, opts.costPrior ?? DEFAULT_COST_PRIOR, opts.now ?? (() => performance.now()));
  const seqs = Array.from(
    { length: params.numSequences },
    (_, i) => new Sequence(i, params, tokenizer, Rng.forSequence(params.seed, i), promptIds),
  );
  const ws = createWorkspace(V);
  let cache: KVCache | null = null;
  try {
    if (signal?.aborted) return;
    if (params.maxNewTokens === 0 && !params.promptLogprobs) return yield* endAll(seqs); // nothing to compute

    // Prefill in chunks, each extending the cache of the one before: PREFILL_CHUNK positions bound the
    // activations ORT allocates (its arena and the WASM heap never shrink: a 512-token prefill would grow
    // distilgpt2's heap by ~25 MB for good), and when scoring the prompt PROMPT_CHUNK positions keep the
    // [positions, vocab] logits small.
    if (opts.admit && !(await opts.admit(input.length + (params.maxNewTokens > 0 ? params.numSequences : 0)))) {
      return yield* endAll(seqs, 'quota');
    }
    const scorer = params.promptLogprobs ? new PromptScorer(promptIds, V, tokenizer, params.topLogprobs) : null;
    const chunk = scorer ? PROMPT_CHUNK : PREFILL_CHUNK;
    let prefill: ForwardResult | undefined;
    const capacity = Math.min(nPositions, input.length + params.maxNewTokens); // the cache's final length, at most
    for (let start = 0; start < input.length; start += chunk) {
      const ids = input.slice(start, start + chunk);
      const past = cache;
      const res: ForwardResult = await meter.time(
        { batch: 1, past: start, seq: ids.length },
        () => lm.forward({ inputIds: [ids], cache: past, logitsFor: scorer ? 'all' : 'last', capacity, reserveRows: params.numSequences }),
        costOf,
      );
      cache = res.cache; // the input cache now belongs to the model (ForwardResult contract)
      checkResult(res, 1, scorer ? ids.length : 1, V);
      scorer?.add(res.logits, start);
      prefill = res;
      if (signal) await yieldToEventLoop();
      if (signal?.aborted) return;
    }
    onStep?.({ step: 0, batch: 1, past: 0 });
    if (!prefill || !cache || signal?.aborted) return;
    if (scorer) {
      yield { type: 'prompt', tokens: scorer.tokens };
      if (signal?.aborted) return;
    }
    if (params.maxNewTokens === 0) return yield* endAll(seqs);

    // `live[j]` reads logits row `rows[j]` and owns cache row `rows[j]`: after the prefill every
    // sequence shares row 0 (the first selectRows tiles it), after a forward row j is sequence j.
    let logits = prefill.logits.subarray((prefill.positions - 1) * V); // [batch = 1, vocab] of the last position
    let live = seqs;
    let rows = seqs.map(() => 0);
    let past = input.length;
    for (let step = 1; ; step++) {
      const picks: Pick[] = [];
      const texts: string[] = [];
      for (const [j, s] of live.entries()) {
        const r = rows[j]!;
        const pick = s.pick(logits.subarray(r * V, (r + 1) * V), ws);
        picks.push(pick);
        texts.push(s.append(pick.id, input.length + s.ids.length < nPositions));
      }
      const next = live.filter((s) => !s.finished);
      if (next.length > 0 && !meter.canAfford({ batch: next.length, past, seq: 1 })) {
        for (const [j, s] of live.entries()) if (!s.finished) texts[j] += s.end('length', 'cpu_budget');
      } else if (next.length > 0 && opts.admit && !(await opts.admit(next.length))) {
        for (const [j, s] of live.entries()) if (!s.finished) texts[j] += s.end('length', 'quota');
      }
      for (const [j, s] of live.entries()) {
        yield tokenEvent(s, picks[j]!, texts[j]!, tokenizer);
        if (signal?.aborted) return;
      }
      for (const s of live) if (s.finished) yield doneEvent(s);

      const keep = live.flatMap((s, j) => (s.finished ? [] : [rows[j]!]));
      live = live.filter((s) => !s.finished);
      if (live.length === 0 || signal?.aborted) return;
      cache = reshape(lm, cache, keep);
      const batch = live.length;
      const result: ForwardResult = await meter.time(
        { batch, past, seq: 1 },
        () => lm.forward({ inputIds: live.map((s) => [s.lastId]), cache, logitsFor: 'last' }),
        costOf,
      );
      cache = result.cache; // the input cache now belongs to the model (ForwardResult contract)
      checkResult(result, batch, 1, V);
      onStep?.({ step, batch, past });
      if (signal) await yieldToEventLoop();
      if (signal?.aborted) return;
      logits = result.logits; // [batch, 1, vocab]
      rows = live.map((_, j) => j);
      past += 1;
    }
  } finally {
    if (cache) lm.release(cache);
  }
}

/** A batched step's share of compute for this request (generation/scheduler.ts), when it shared one. */
const costOf = (r: ForwardResult): number | undefined => r.costMs;

/** Drops finished rows and tiles the prefill: a new cache with rows `keep` of `cache` (old one released). */
function reshape(lm: CausalLM, cache: KVCache, keep: number[]): KVCache {
  if (keep.length === cache.batch && keep.every((r, j) => r === j)) return cache;
  const selected = lm.selectRows(cache, keep);
  if (selected !== cache) lm.release(cache);
  return selected;
}

function* endAll(seqs: Sequence[], limit: LengthLimit = 'max_new_tokens'): Generator<GenerationEvent> {
  for (const s of seqs) s.end('length', limit);
  for (const s of seqs) yield doneEvent(s);
}

function tokenEvent(s: Sequence, pick: Pick, text: string, tokenizer: TextTokenizer): GenerationEvent {
  return {
    type: 'token',
    sequence: s.index,
    index: s.ids.length - 1,
    id: pick.id,
    text,
    logprob: pick.logprob,
    special: tokenizer.isSpecial(pick.id),
    final: s.finished,
    ...(pick.top ? { top: pick.top } : {}),
  };
}

function doneEvent(s: Sequence): GenerationEvent {
  return {
    type: 'done',
    sequence: s.index,
    finishReason: s.finishReason ?? 'length',
    generatedTokens: s.ids.length,
    text: s.text,
    ...(s.limit ? { limit: s.limit } : {}),
  };
}

/** A model that returns the wrong shape would silently sample garbage: fail loudly instead. */
function checkResult(res: ForwardResult, batch: number, positions: number, vocab: number): void {
  if (res.positions !== positions || res.logits.length !== batch * positions * vocab || res.cache.batch !== batch) {
    throw new GenerationError(
      'model_output',
      `model returned logits of ${res.logits.length} values (${res.positions} positions, cache batch ` +
        `${res.cache.batch}); expected [${batch}, ${positions}, ${vocab}]`,
    );
  }
}

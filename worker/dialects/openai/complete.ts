/**
 * OpenAI completions as one JSON answer: each prompt's generation collected, `best_of` > n ranked by
 * cumulative logprob (the n best kept), choices built by choice.ts like the stream's.
 */
import { collect, cumulativeLogprob } from '../../service/collect.ts';
import { finishDetail } from '../../service/finish-detail.ts';
import type { Prepared, SequenceResult, Service } from '../../service/types.ts';
import { createChoice, promptText } from './choice.ts';
import type { OpenAiPlan } from './params.ts';
import { completion, openAiFinish, usage, type ChoiceOut, type CompletionMeta } from './wire.ts';

export async function createCompletion(
  service: Service,
  plan: OpenAiPlan,
  meta: CompletionMeta,
  prepared: Prepared[],
  signal: AbortSignal,
) {
  const choices: ChoiceOut[] = [];
  let promptTokens = 0;
  let completionTokens = 0;
  for (const [pi, p] of prepared.entries()) {
    const text0 = promptText(p.model, plan.prompts[pi]!);
    promptTokens += p.promptIds.length;
    const gen = await collect(service.run(p, plan.params, signal), signal);
    for (const s of gen.sequences) completionTokens += s.done.generatedTokens;
    const kept: SequenceResult[] =
      gen.sequences.length > plan.n
        ? [...gen.sequences].sort((a, b) => cumulativeLogprob(b) - cumulativeLogprob(a)).slice(0, plan.n)
        : gen.sequences;
    kept.forEach((seq, k) => {
      const choice = createChoice(plan, p.model, text0);
      if (plan.echo) choice.echo(gen.prompt);
      for (const t of seq.tokens) choice.add(t);
      choices.push({
        text: (plan.echo ? text0 : '') + seq.done.text,
        index: pi * plan.n + k,
        logprobs: choice.lp ? choice.lp.all() : null,
        finish_reason: openAiFinish(seq.done.finishReason),
        finish_detail: finishDetail(seq.done),
      });
    });
  }
  return completion(meta, choices, usage(promptTokens, completionTokens));
}

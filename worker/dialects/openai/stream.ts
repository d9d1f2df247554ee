/**
 * OpenAI completions as SSE: one chunk per token (per choice), a finish chunk per choice, the usage
 * chunk (`choices: []`) when stream_options.include_usage, then `data: [DONE]`.
 */
import { jsonMessage } from '../../http/sse-encode.ts';
import type { SSEChannel } from '../../http/sse.ts';
import type { GenerationEvent, Prepared, PromptEvent, Service } from '../../service/types.ts';
import { finishDetail } from '../../service/finish-detail.ts';
import { consumeGeneration } from '../shared/stream.ts';
import { createChoice, promptText } from './choice.ts';
import type { OpenAiPlan } from './params.ts';
import { chunk, openAiFinish, usage, type ChoiceOut, type CompletionMeta } from './wire.ts';

/**
 * Streaming. On /models/:id/v1/completions (reached by @huggingface/inference's textGenerationStream,
 * which types its chunks as TGI StreamOutput) each chunk also carries TGI's `token`, `generated_text`
 * and `details` fields when there is one prompt and n = 1: the final token's chunk waits for the finish
 * (which follows within the same step), like TGI's stream. OpenAI clients ignore the extra fields.
 */
export async function streamCompletion(
  service: Service,
  plan: OpenAiPlan,
  meta: CompletionMeta,
  prepared: Prepared[],
  ch: SSEChannel,
  tgiFields: boolean,
): Promise<void> {
  const send = (choices: ChoiceOut[], extra?: Record<string, unknown>) =>
    ch.send(jsonMessage({ ...chunk(meta, choices, plan.includeUsage), ...extra }));
  const hybrid = tgiFields && plan.n === 1 && prepared.length === 1;
  let promptTokens = 0;
  let completionTokens = 0;
  for (const [pi, p] of prepared.entries()) {
    const model = p.model;
    const text0 = promptText(model, plan.prompts[pi]!);
    promptTokens += p.promptIds.length;
    const seqs = Array.from({ length: plan.n }, () => ({
      emitted: '',
      choice: createChoice(plan, model, text0),
      held: null as { choice: ChoiceOut; token: Record<string, unknown> } | null,
    }));
    const echo = async (prompt: PromptEvent | null) => {
      for (const [k, s] of seqs.entries()) {
        s.choice.echo(prompt);
        await send([{ text: text0, index: pi * plan.n + k, logprobs: s.choice.lp ? s.choice.lp.drain() : null, finish_reason: null }]);
      }
    };
    if (plan.echo && !plan.params.promptLogprobs) await echo(null);
    await consumeGeneration(service, p, plan.params, ch, async (ev: GenerationEvent) => {
      if (ev.type === 'prompt') {
        if (plan.echo) await echo(ev);
        return;
      }
      const s = seqs[ev.sequence];
      if (!s) return;
      const index = pi * plan.n + ev.sequence;
      if (ev.type === 'token') {
        s.choice.add(ev);
        s.emitted += ev.text;
        const choice: ChoiceOut = { text: ev.text, index, logprobs: s.choice.lp ? s.choice.lp.drain() : null, finish_reason: null };
        if (!hybrid) return send([choice]);
        const token = { id: ev.id, text: ev.text, logprob: Number.isFinite(ev.logprob) ? ev.logprob : null, special: ev.special };
        // Like TGI, the last token travels with the finish: only a final token waits for its done event.
        if (ev.final) s.held = { choice, token };
        else await send([choice], { token, generated_text: null, details: null });
        return;
      }
      completionTokens += ev.generatedTokens;
      // Text held back by stop-sequence matching and released at the end arrives here.
      const rest = ev.text.startsWith(s.emitted) ? ev.text.slice(s.emitted.length) : '';
      const finish = { finish_reason: openAiFinish(ev.finishReason), finish_detail: finishDetail(ev) };
      if (hybrid && s.held) {
        const details = {
          finish_reason: ev.finishReason,
          generated_tokens: ev.generatedTokens,
          seed: plan.params.doSample ? plan.reportedSeed : null,
          finish_detail: finish.finish_detail,
        };
        await send([{ ...s.held.choice, text: s.held.choice.text + rest, ...finish }], {
          token: s.held.token,
          generated_text: (plan.echo ? text0 : '') + ev.text,
          details,
        });
        s.held = null;
        return;
      }
      await send([{ text: rest, index, logprobs: null, ...finish }]);
    });
    if (ch.signal.aborted) return;
  }
  if (plan.includeUsage) await ch.send(jsonMessage(chunk(meta, [], true, usage(promptTokens, completionTokens))));
  await ch.send({ data: '[DONE]' });
}

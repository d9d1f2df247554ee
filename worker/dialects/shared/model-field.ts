/**
 * The OpenAI-style `model` field (completions and embeddings): a served id or alias. Absent, "tgi"
 * (TGI's convention) or a URL (what @huggingface/inference sends as `model` for an endpointUrl) mean
 * the default model; anything else is OpenAI's 404.
 */
import { ApiError } from '../../http/errors.ts';
import type { Service } from '../../service/types.ts';

export function resolveOpenAiModel(service: Service, model: string | null | undefined): string {
  if (model == null || model === '' || model === 'tgi' || /^https?:\/\//.test(model)) return service.defaultId;
  const id = service.lookup(model);
  if (id === undefined) {
    throw new ApiError('not_found', `The model \`${model.slice(0, 200)}\` does not exist; served models: ${service.ids.join(', ')}`, {
      param: 'model',
      code: 'model_not_found',
    });
  }
  return id;
}

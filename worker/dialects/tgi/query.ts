/**
 * GET /generate_stream?inputs=…&max_new_tokens=…: query strings → the JSON shape of a TGI request,
 * so the one zod schema validates both. `stop` may repeat (`&stop=a&stop=b`). Values that do not
 * look like the field's type are passed through as strings, and the schema rejects them by name.
 */
const BOOLEAN = new Set(['decoder_input_details', 'details', 'do_sample', 'return_full_text', 'watermark']);
const NUMBER = new Set([
  'best_of',
  'frequency_penalty',
  'max_new_tokens',
  'repetition_penalty',
  'seed',
  'temperature',
  'top_k',
  'top_n_tokens',
  'top_p',
  'truncate',
  'typical_p',
]);
const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function queryToTgiRequest(q: URLSearchParams): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  for (const [key, value] of q) {
    if (BOOLEAN.has(key)) parameters[key] = value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value;
    else if (NUMBER.has(key)) parameters[key] = NUMERIC.test(value) ? Number(value) : value;
  }
  if (q.has('stop')) parameters.stop = q.getAll('stop');
  const out: Record<string, unknown> = { parameters };
  if (q.has('inputs')) out.inputs = q.get('inputs');
  return out;
}

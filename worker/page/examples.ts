/**
 * Ready-to-copy client examples for this deployment: the URLs come from the request's own origin, so
 * what a visitor copies works against the server that rendered the page. Plain text; render.ts escapes it.
 */

export interface Example {
  id: string;
  title: string;
  code: string;
}

/** POSIX shell single-quoting: 'it'\''s'. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const PROMPT = 'The meaning of life is';

export function examples(origin: string, modelId: string, authEnabled: boolean): Example[] {
  const auth = authEnabled ? ` \\\n  -H "Authorization: Bearer $API_KEY"` : '';
  const curl = (path: string, body: unknown): string =>
    `curl -N ${shellQuote(origin + path)}${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d ${shellQuote(JSON.stringify(body))}`;
  const key = authEnabled ? 'process.env.API_KEY' : "'unused' /* no key configured */";
  const hfModelUrl = `${origin}/models/${encodeURIComponent(modelId)}`;
  return [
    {
      id: 'curl-tgi',
      title: 'curl: Text Generation Inference stream (POST /generate_stream)',
      code: curl('/generate_stream', {
        inputs: PROMPT,
        parameters: { max_new_tokens: 40, do_sample: true, temperature: 0.8, top_k: 50, seed: 42 },
      }),
    },
    {
      id: 'curl-hf',
      title: 'curl: Hugging Face Inference API stream (POST /models/:model)',
      code: curl(`/models/${encodeURIComponent(modelId)}`, {
        inputs: PROMPT,
        parameters: { max_new_tokens: 40, do_sample: true, seed: 42 },
        stream: true,
        // Without it the API answers 503 + estimated_time while a cold model loads (HF's habit).
        options: { wait_for_model: true },
      }),
    },
    {
      id: 'curl-openai',
      title: 'curl: OpenAI completions stream (POST /v1/completions)',
      code: curl('/v1/completions', { model: modelId, prompt: PROMPT, max_tokens: 40, stream: true, seed: 42 }),
    },
    {
      id: 'js-openai',
      title: 'JavaScript: the openai client',
      code: [
        "import OpenAI from 'openai';",
        '',
        `const client = new OpenAI({ baseURL: ${JSON.stringify(origin + '/v1')}, apiKey: ${key} });`,
        'const stream = await client.completions.create({',
        `  model: ${JSON.stringify(modelId)},`,
        `  prompt: ${JSON.stringify(PROMPT)},`,
        '  max_tokens: 40,',
        '  stream: true,',
        '});',
        "for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.text ?? '');",
      ].join('\n'),
    },
    {
      id: 'js-hf',
      title: 'JavaScript: the @huggingface/inference client',
      code: [
        "import { InferenceClient } from '@huggingface/inference';",
        '',
        `const client = new InferenceClient(${authEnabled ? 'process.env.API_KEY' : ''});`,
        'for await (const out of client.textGenerationStream({',
        `  endpointUrl: ${JSON.stringify(hfModelUrl)},`,
        `  inputs: ${JSON.stringify(PROMPT)},`,
        '  parameters: { max_new_tokens: 40, do_sample: true, seed: 42 },',
        '})) {',
        '  process.stdout.write(out.token.text);',
        '}',
      ].join('\n'),
    },
  ];
}

/**
 * The header of a new EVAL.md: what the tables measure, and the GPT-2 paper's zero-shot numbers for
 * reference (Radford et al., 2019, "Language Models are Unsupervised Multitask Learners", Table 3).
 */
export const EVAL_HEADER = `# Evaluation

Numbers measured by \`npm run eval\` **through the Worker's own API** (\`POST /v1/completions\` with
\`echo: true\`, \`logprobs: 0\`, \`max_tokens: 0\` returns each prompt token's logprob), so they include
everything the deployment does: conversion, quantization, ONNX Runtime Web (WASM) numerics.

- Tokenization: GPT-2's BPE (js-tiktoken \`r50k_base\`, checked against the server's \`POST /tokenize\`).
- Perplexity: strided sliding window (Hugging Face's "Perplexity of fixed-length models" guide).
  Windows of \`context\` tokens every \`stride\` tokens; each window scores only the tokens the previous
  one did not, so every token but the stream's first is scored exactly once (with stride = context,
  the first token of each window is unscored, as in the guide). No BOS/\`<|endoftext|>\` is prepended.
  perplexity = exp(mean NLL per scored token); bits/byte = total NLL in bits / UTF-8 bytes of the
  scored tokens.
- WikiText-2: \`wiki.test.raw\` of wikitext-2-raw-v1, the whole file byte for byte as one stream
  (not HF's \`"\\n\\n".join\` of its rows), no detokenization.
- Brown: the 50 held-out documents of our training split (\`scripts/train/brown.ts\`) as one stream,
  each followed by \`<|endoftext|>\` exactly as the trainer's \`val.bin\` (the EOS predictions count;
  they add no bytes), so the numbers compare with \`scripts/train/eval_ppl.py\` at the same context/stride.
- LAMBADA: OpenAI's variant (\`lambada_test.jsonl\`, 5,153 passages). Accuracy: the greedy continuation
  of the context, as many tokens as the target has, must equal the last word exactly (with its
  leading space); no stop-word filter. Perplexity: exp(mean over passages of the last word's NLL).

## Reference: the GPT-2 paper (zero-shot, Table 3)

Reported in the GPT-2 paper, **with different tokenization/detokenization** (invertible de-tokenizers
on the original datasets), so they are not directly comparable with the tables below. The 117M model
is Hugging Face's \`gpt2\` (124M parameters when counted exactly).

| model | LAMBADA ppl | LAMBADA acc % | CBT-CN | CBT-NE | WikiText-2 ppl | PTB ppl | enwik8 bpb | text8 bpc | WikiText-103 ppl | 1BW ppl |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| 117M | 35.13 | 45.99 | 87.65 | 83.4 | 29.41 | 65.85 | 1.16 | 1.17 | 37.50 | 75.20 |
| 345M | 15.60 | 55.48 | 92.35 | 87.1 | 22.76 | 47.33 | 1.01 | 1.06 | 26.37 | 55.72 |
| 762M | 10.87 | 60.12 | 93.45 | 88.0 | 19.93 | 40.31 | 0.97 | 1.02 | 22.05 | 44.575 |
| 1542M | 8.63 | 63.24 | 93.30 | 89.05 | 18.34 | 35.76 | 0.93 | 0.98 | 17.48 | 42.16 |

## Reproduce

\`\`\`sh
# against a running Worker (npm start, or a deployment; --api-key or $EDGE_GPT2_API_KEY when keys are set)
npm run eval -- --url http://127.0.0.1:8787 --dataset wikitext2 --markdown EVAL.md --label int8
# or the Worker's app in-process over converted models (one dir can hold several ids)
npm run convert -- checkpoints/edge-gpt2-brown --quant q4 --out .tmp/eval-models --id brown-q4
npm run eval -- --local .tmp/eval-models --model brown-q4 --dataset brown --markdown EVAL.md --label q4
\`\`\`

The API takes at most \`n_positions - 1\` prompt tokens (\`MAX_INPUT_TOKENS < MAX_TOTAL_TOKENS <= n_positions\`),
so the default context is 1023 for a 1024-position model, and \`MAX_INPUT_TOKENS\` (768 in wrangler.toml)
caps it further on a deployed Worker. Each table row says the context and stride it used.

## Measured here
`;

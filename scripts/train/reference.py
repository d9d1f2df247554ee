"""Reference outputs of a checkpoint, computed in torch, as a small JSON fixture.

  /usr/bin/python3 scripts/train/reference.py [checkpoint-dir] [out.json]

Defaults: checkpoints/edge-gpt2-brown → test/fixtures/reference/edge-gpt2-brown.json (the fixture is named
after the checkpoint directory).
Everything is computed in float32 from the float16 weights on disk (cast up),
so a converter reading the same file must reproduce these numbers up to
float32 summation order. Prompt ids come from js-tiktoken r50k_base (via node).
"""
import hashlib
import json
import math
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint import load_checkpoint  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PROMPTS = {
    'plain': 'The jury said that the city was',
    'punctuation': 'Well -- he said, "No!" (and left); then: why?',
    'number': 'In 1961 the population was 3,402,118 and rising by',
    'unicode': 'Café naïve façade — 日本語 🙂 über',
    'single_token': 'The',
    'paragraph': ('The committee met on Monday to discuss the new budget for the school district. '
                  'Several members argued that the proposed increase in taxes would place an unfair '
                  'burden on families, while others said the schools could not continue without it.'),
}
FIXED_IDS = [0, 11, 13, 198, 262, 290, 318, 50256]  # '!', ',', '.', '\n', ' the', ' and', ' is', eos
GREEDY_NEW = 20
TOP_K = 20
HIDDEN_PROMPT = 'plain'
LOGPROB_PROMPT = 'paragraph'


def sig7(x):
    return float(f'{float(x):.7g}')


def encode(texts):
    out = subprocess.run(['npx', 'tsx', os.path.join('scripts', 'train', 'encode.ts')], cwd=ROOT,
                         input=json.dumps(texts), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@torch.no_grad()
def last_logits_facts(model, ids):
    logits = model(torch.tensor([ids]))[0][0, -1]  # [vocab]
    vals, idx = torch.topk(logits, TOP_K)
    d = logits.double()
    return {
        'top_ids': idx.tolist(),
        'top_values': [sig7(v) for v in vals],
        'fixed_ids': FIXED_IDS,
        'fixed_values': [sig7(logits[i]) for i in FIXED_IDS],
        'logsumexp': sig7(torch.logsumexp(d, 0)),
        'sum': sig7(d.sum()),
        'sum_sq': sig7((d * d).sum()),
    }


@torch.no_grad()
def greedy(model, ids, n):
    # Full recompute each step: the KV-cache path must give the same ids.
    seq = list(ids)
    for _ in range(n):
        logits = model(torch.tensor([seq]))[0][0, -1]
        seq.append(int(torch.argmax(logits)))
    return seq[len(ids):]


def main():
    ckpt = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, 'checkpoints', 'edge-gpt2-brown')
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, 'test', 'fixtures', 'reference', os.path.basename(ckpt) + '.json')
    torch.set_num_threads(2)
    model = load_checkpoint(ckpt)
    with open(os.path.join(ckpt, 'model.safetensors'), 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(ckpt, 'config.json')) as f:
        config = json.load(f)
    names = list(PROMPTS)
    all_ids = encode([PROMPTS[n] for n in names])
    prompts = []
    for name, ids in zip(names, all_ids):
        prompts.append({'name': name, 'text': PROMPTS[name], 'ids': ids,
                        'last_logits': last_logits_facts(model, ids),
                        'greedy_new_ids': greedy(model, ids, GREEDY_NEW)})
    by_name = dict(zip(names, all_ids))
    with torch.no_grad():
        hid_ids = by_name[HIDDEN_PROMPT]
        hidden = model.hidden(torch.tensor([hid_ids]))[0]  # [seq, n_embd], after ln_f
        lp_ids = by_name[LOGPROB_PROMPT]
        logits = model(torch.tensor([lp_ids]))[0][0]  # [seq, vocab]
        logp = torch.log_softmax(logits.double(), dim=-1)
        token_logprobs = [None] + [sig7(logp[i - 1, lp_ids[i]]) for i in range(1, len(lp_ids))]
    fixture = {
        'format': 'edge-gpt2-reference',
        'version': 1,
        'generated_by': 'scripts/train/reference.py (torch %s, float32 compute from float16 weights)' % torch.__version__,
        'checkpoint': {'dir': os.path.relpath(ckpt, ROOT), 'model_safetensors_sha256': sha,
                       'n_layer': config['n_layer'], 'n_head': config['n_head'], 'n_embd': config['n_embd'],
                       'vocab_size': config['vocab_size']},
        'notes': 'Values rounded to 7 significant digits. greedy_new_ids: argmax, 20 new tokens, no EOS stop. '
                 'token_logprobs[i] = log p(ids[i] | ids[:i]); the first is null (no context).',
        'prompts': prompts,
        'hidden_states': {'prompt': HIDDEN_PROMPT, 'ids': hid_ids, 'after': 'ln_f',
                          'shape': list(hidden.shape), 'values': [[sig7(v) for v in row] for row in hidden]},
        'prompt_logprobs': {'prompt': LOGPROB_PROMPT, 'ids': lp_ids, 'token_logprobs': token_logprobs,
                            'sum': sig7(sum(x for x in token_logprobs if x is not None))},
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print(f'reference: {len(prompts)} prompts, hidden {list(hidden.shape)} → {os.path.relpath(out, ROOT)} '
          f'(sha256 {sha[:12]}…)')


if __name__ == '__main__':
    main()

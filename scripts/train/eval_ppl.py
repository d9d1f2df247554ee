"""Held-out perplexity of a checkpoint (float32 compute from its float16 weights).

  /usr/bin/python3 scripts/train/eval_ppl.py [checkpoint-dir] [--context 128] [--stride 64] [--wikitext-tokens N]

Brown val (data/brown/val.bin): twice — non-overlapping windows of --context
tokens (cheap, pessimistic: a window's first tokens see little history) and the
strided sliding window below.
WikiText-2 test (data/wikitext/test.bin, built by
`npx tsx scripts/train/encode.ts --file ../shared/data/wikitext-2-raw/wiki.test.raw data/wikitext/test.bin`):
the strided sliding window of HF's perplexity guide — windows of --context
tokens moved by --stride, only the tokens not scored before count, so each
scored token has at least context - stride tokens of history.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint import load_checkpoint  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def load_bin(path):
    return torch.from_numpy(np.fromfile(path, dtype='<u2').astype(np.int64))


@torch.no_grad()
def strided_nll(model, ids, context, stride, batch=8):
    """Sum of NLL and count of scored tokens, HF-guide sliding window."""
    windows = []  # (begin, end, n_new)
    prev_end = 0
    for begin in range(0, len(ids) - 1, stride):
        end = min(begin + context, len(ids))
        windows.append((begin, end, end - prev_end))
        prev_end = end
        if end == len(ids):
            break
    total, count = 0.0, 0
    for i in range(0, len(windows), batch):
        for begin, end, n_new in windows[i:i + batch]:
            x = ids[begin:end - 1][None]  # [1, T]
            y = ids[begin + 1:end]
            h = model.hidden(x)[0]  # [T, C]
            n = min(n_new, len(y))
            logits = h[-n:] @ model.transformer.wte.weight.t()  # only scored positions: [n, vocab]
            total += F.cross_entropy(logits, y[-n:], reduction='sum').item()
            count += n
    return total, count


def main():
    p = argparse.ArgumentParser()
    p.add_argument('ckpt', nargs='?', default=os.path.join(ROOT, 'checkpoints', 'edge-gpt2-small'))
    p.add_argument('--context', type=int, default=128)
    p.add_argument('--stride', type=int, default=64)
    p.add_argument('--wikitext-tokens', type=int, default=0, help='0 = all')
    p.add_argument('--out', default=os.path.join(ROOT, 'data', 'train', 'eval.json'))
    a = p.parse_args()
    torch.set_num_threads(2)
    model = load_checkpoint(a.ckpt)
    res = {'checkpoint': a.ckpt, 'context': a.context, 'stride': a.stride}
    t0 = time.time()
    val = load_bin(os.path.join(ROOT, 'data', 'brown', 'val.bin'))
    nll, n = strided_nll(model, val, a.context, a.context)  # stride = context: non-overlapping
    res['brown_val'] = {'tokens': n, 'loss': nll / n, 'ppl': math.exp(nll / n), 'method': f'non-overlapping windows of {a.context}'}
    print(f"brown val: loss {nll / n:.4f} ppl {math.exp(nll / n):.2f} ({n} tokens, {time.time() - t0:.0f}s)", flush=True)
    nll, n = strided_nll(model, val, a.context, a.stride)
    res['brown_val_strided'] = {'tokens': n, 'loss': nll / n, 'ppl': math.exp(nll / n), 'method': f'sliding window {a.context}/{a.stride}'}
    print(f"brown val strided: loss {nll / n:.4f} ppl {math.exp(nll / n):.2f} ({n} tokens, {time.time() - t0:.0f}s)", flush=True)
    wt_path = os.path.join(ROOT, 'data', 'wikitext', 'test.bin')
    if os.path.exists(wt_path):
        wt = load_bin(wt_path)
        if a.wikitext_tokens:
            wt = wt[:a.wikitext_tokens]
        nll, n = strided_nll(model, wt, a.context, a.stride)
        res['wikitext2_test'] = {'tokens': n, 'loss': nll / n, 'ppl': math.exp(nll / n),
                                 'method': f'sliding window {a.context}/{a.stride}', 'subset_tokens': len(wt)}
        print(f"wikitext-2 test: loss {nll / n:.4f} ppl {math.exp(nll / n):.2f} ({n} tokens, {time.time() - t0:.0f}s)", flush=True)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(res, f, indent=2)


if __name__ == '__main__':
    main()

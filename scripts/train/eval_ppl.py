"""Held-out perplexity of a checkpoint (float32 compute from its float16 weights).

  /usr/bin/python3 scripts/train/eval_ppl.py [checkpoint-dir] [--context 128] [--stride 64] [--wikitext-tokens N]

Brown val (data/brown/val.bin): twice — non-overlapping windows of --context
tokens (cheap, pessimistic: a window's first tokens see little history) and the
strided sliding window below.
WikiText-2 test (data/wikitext/test.bin, built by
`npx tsx scripts/train/encode.ts --file data/wikitext-2-raw/wiki.test.raw data/wikitext/test.bin`):
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

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # shared box: do not spin

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint import load_checkpoint  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def load_bin(path):
    return torch.from_numpy(np.fromfile(path, dtype='<u2').astype(np.int64))


@torch.no_grad()
def strided_nll(model, ids, context, stride, batch=8):
    """Sum of NLL and number of scored tokens, HF-guide sliding window.

    Window w reads ids[begin:end] (end - begin <= context) and predicts
    ids[begin+1:end+1]; it scores only the targets not scored by an earlier
    window, so every token after the first is scored exactly once, with at
    least context - stride tokens of history (all it has, near the start).
    """
    n_tok = len(ids)
    windows = []  # (begin, end, n_scored)
    last, begin = 0, 0  # last: index of the last scored target
    while last < n_tok - 1:
        end = min(begin + context, n_tok - 1)
        windows.append((begin, end, end - last))
        last = end
        begin += stride
    W = model.transformer.wte.weight  # tied LM head
    total, count, t0 = 0.0, 0, time.time()
    # Full-length windows go in batches; only the last one or two are shorter.
    groups, cur = [], []
    for w in windows:
        if cur and (len(cur) == batch or w[1] - w[0] != cur[0][1] - cur[0][0]):
            groups.append(cur)
            cur = []
        cur.append(w)
    groups.append(cur)
    for gi, ws in enumerate(groups):
        x = torch.stack([ids[b:e] for b, e, _ in ws])  # [B, T]
        h = model.hidden(x)  # [B, T, C]
        for j, (b, e, n) in enumerate(ws):
            logits = h[j, -n:] @ W.t()  # scored positions only: [n, vocab]
            total += F.cross_entropy(logits, ids[e - n + 1:e + 1], reduction='sum').item()
            count += n
        if gi % 50 == 0:
            print(f'  {count}/{n_tok - 1} tokens, {time.time() - t0:.0f}s', flush=True)
    assert count == n_tok - 1, (count, n_tok)
    return total, count


def main():
    p = argparse.ArgumentParser()
    p.add_argument('ckpt', nargs='?', default=os.path.join(ROOT, 'checkpoints', 'edge-gpt2-brown'))
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

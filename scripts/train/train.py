"""Train edge-gpt2-small: a GPT-2 (exact architecture) on the Brown corpus, on CPU.

  npm run train -- [--n-layer 4 --n-embd 128 --max-steps N | --time-budget S] [--out DIR]

Needs Debian's torch with OpenBLAS (reference BLAS is several times slower):
  apt-get install python3-torch python3-numpy libopenblas0-pthread
and the token files from `npx tsx scripts/train/brown.ts` (data/brown/).

Deterministic given --seed and --max-steps (single process, fixed data order,
torch.use_deterministic_algorithms). --time-budget instead estimates the step
count from the first steps' speed, for the sweep only.
Trains on --block-token windows (default 128) but keeps n_positions = 1024 like
GPT-2, so positions past the block are barely trained (see the model card).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

# Passive OpenMP waits: the box is shared, and spinning threads burn our CPU
# share while the other thread (or OpenBLAS) works. Must be set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT, GPTConfig  # noqa: E402
from checkpoint import save_checkpoint  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--n-layer', type=int, default=4)
    p.add_argument('--n-embd', type=int, default=128)
    p.add_argument('--head-dim', type=int, default=32)
    p.add_argument('--n-positions', type=int, default=1024)
    p.add_argument('--block', type=int, default=128)
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--min-lr-frac', type=float, default=0.1)
    p.add_argument('--warmup', type=int, default=60)
    p.add_argument('--weight-decay', type=float, default=0.1)
    p.add_argument('--grad-clip', type=float, default=1.0)
    p.add_argument('--max-steps', type=int, default=0)
    p.add_argument('--time-budget', type=float, default=0, help='seconds; sweep only (not deterministic)')
    p.add_argument('--deadline', default='', help='HH:MM (UTC): safety stop; a run cut short this way is not deterministic')
    p.add_argument('--stop-step', type=int, default=0,
                   help='stop after this step with the schedule of --max-steps (replays a run cut by --deadline)')
    p.add_argument('--snapshot', default='', help='also save a checkpoint here at every eval (fallback if cut short)')
    p.add_argument('--eval-every', type=int, default=100)
    p.add_argument('--eval-batches', type=int, default=16)
    p.add_argument('--full-eval', action='store_true', help='final loss on all of val.bin')
    p.add_argument('--seed', type=int, default=1337)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--data', default=os.path.join(ROOT, 'data', 'brown'))
    p.add_argument('--out', default='', help='checkpoint dir (HF layout); empty: do not save')
    p.add_argument('--reference', action='store_true', help='run reference.py on the saved checkpoint')
    p.add_argument('--name', default='run')
    p.add_argument('--log', default='')
    return p.parse_args()


def load_bin(path):
    return torch.from_numpy(np.fromfile(path, dtype='<u2').astype(np.int64))


class Log:
    def __init__(self, path):
        self.f = open(path, 'a') if path else None

    def __call__(self, msg):
        line = f'[{time.strftime("%H:%M:%S")}] {msg}'
        print(line, flush=True)
        if self.f:
            self.f.write(line + '\n')
            self.f.flush()


@torch.no_grad()
def evaluate(model, data, block, batch, n_batches=None):
    """Mean loss over consecutive non-overlapping windows (fixed, seed-free)."""
    model.eval()
    n_win = (len(data) - 1) // block
    if n_batches is not None:
        n_win = min(n_win, n_batches * batch)
    total, count = 0.0, 0
    for s in range(0, n_win, batch):
        idx = torch.arange(s, min(s + batch, n_win)) * block
        x = torch.stack([data[i:i + block] for i in idx])  # [B, T]
        y = torch.stack([data[i + 1:i + 1 + block] for i in idx])
        _, loss = model(x, y)
        total += loss.item() * x.numel()
        count += x.numel()
    model.train()
    return total / count


def lr_at(step, max_steps, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    frac = (step - a.warmup) / max(1, max_steps - a.warmup)
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    log = Log(a.log)
    train, val = load_bin(os.path.join(a.data, 'train.bin')), load_bin(os.path.join(a.data, 'val.bin'))
    cfg = GPTConfig(n_layer=a.n_layer, n_head=max(1, a.n_embd // a.head_dim), n_embd=a.n_embd, n_positions=a.n_positions)
    model = GPT(cfg)
    log(f'{a.name}: config {cfg.to_dict()} params {model.num_params():,} train {len(train):,} val {len(val):,} tokens')

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': a.weight_decay},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed)
    max_steps = a.max_steps or 10**9
    deadline, stopped_early = None, False
    if a.deadline:
        hh, mm = (int(v) for v in a.deadline.split(':'))
        now = time.gmtime()
        deadline = time.time() + ((hh * 60 + mm) - (now.tm_hour * 60 + now.tm_min)) * 60 - now.tm_sec
    t0 = time.time()
    step, ema, history = 0, None, []
    while step < max_steps:
        if a.time_budget and step == 5:
            # Sweep mode: fix the schedule length (and warmup) from the measured speed.
            max_steps = max(20, int(a.time_budget / ((time.time() - t0) / 5)))
            a.warmup = max(5, min(a.warmup, max_steps // 10))
            log(f'{a.name}: time budget {a.time_budget:.0f}s -> max_steps {max_steps}, warmup {a.warmup}')
        if a.stop_step and step >= a.stop_step:
            log(f'{a.name}: stop-step {a.stop_step} reached (schedule length {max_steps})')
            break
        if deadline and time.time() > deadline:
            log(f'{a.name}: DEADLINE reached at step {step}/{max_steps}; stopping early (schedule not finished)')
            stopped_early = True
            break
        for g in opt.param_groups:
            g['lr'] = lr_at(step, max_steps, a)
        ix = torch.randint(0, len(train) - a.block - 1, (a.batch,), generator=gen)
        x = torch.stack([train[i:i + a.block] for i in ix])  # [B, T]
        y = torch.stack([train[i + 1:i + 1 + a.block] for i in ix])
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 20 == 0:
            el = time.time() - t0
            log(f'{a.name}: step {step}/{max_steps} loss {ema:.4f} lr {lr_at(step, max_steps, a):.2e} '
                f'{step * a.batch * a.block / el:.0f} tok/s elapsed {el:.0f}s')
        if step % a.eval_every == 0 or step == max_steps:
            vl = evaluate(model, val, a.block, a.batch, a.eval_batches)
            history.append({'step': step, 'train_loss_ema': ema, 'val_loss': vl, 'elapsed_s': time.time() - t0})
            log(f'{a.name}: step {step} val_loss {vl:.4f} (ppl {math.exp(vl):.1f})')
            if a.snapshot:
                save_checkpoint(model, a.snapshot)
    train_s = time.time() - t0
    summary = {'name': a.name, 'config': cfg.to_dict(), 'params': model.num_params(), 'args': vars(a),
               'steps': step, 'max_steps': max_steps, 'stopped_early': stopped_early, 'tokens_seen': step * a.batch * a.block, 'train_seconds': train_s,
               'train_loss_ema': ema, 'val_loss_subset': history[-1]['val_loss'] if history else None,
               'history': history}
    if a.full_eval:
        vl = evaluate(model, val, a.block, a.batch)
        summary['val_loss_full'] = vl
        summary['val_ppl_full'] = math.exp(vl)
        log(f'{a.name}: full val loss {vl:.4f} ppl {math.exp(vl):.2f} (block {a.block}, non-overlapping)')
    if a.out:
        save_checkpoint(model, a.out)
        # GPT-2's tokenizer files beside the weights, as in the HF layout.
        subprocess.run(['npx', 'tsx', os.path.join('scripts', 'tokenizer', 'build-gpt2-tokenizer.ts'),
                        os.path.abspath(a.out)], cwd=ROOT, check=True)
        log(f'{a.name}: saved {a.out}')
    os.makedirs(os.path.join(ROOT, 'data', 'train'), exist_ok=True)
    with open(os.path.join(ROOT, 'data', 'train', f'{a.name}.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    log(f'{a.name}: done in {train_s:.0f}s, {step} steps')
    if a.out and a.reference:
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'reference.py'), a.out], check=True)


if __name__ == '__main__':
    main()

"""Train a GPT-2 (exact architecture) on the project's Brown split: on a GPU when there is one, else CPU.

  npm run train -- --preset brown-8x256          # the bundled model (checkpoints/edge-gpt2-brown), on a GPU
  npm run train -- --preset smoke                # the same code path, tiny: a minute or two on CPU
  npm run train -- [--n-layer 4 --n-embd 128 --max-steps N | --time-budget S] [--out DIR] ...

A preset fills in defaults; any flag given on the command line overrides it.
Needs torch (Debian's python3-torch 1.13 on CPU, with OpenBLAS — reference BLAS is several
times slower — or a CUDA build of torch >= 2 for the GPU presets) and the token files from
`npx tsx scripts/train/brown.ts` (data/brown/).

On CUDA: bf16 autocast over fp32 master weights, fused attention (torch >= 2), TF32 matmuls.
On CPU: float32, deterministic given --seed and --max-steps (single process, fixed data order,
torch.use_deterministic_algorithms). --time-budget instead estimates the step count from the
first steps' speed, for the sweep only.

Validation: mean loss over non-overlapping --block windows of val.bin every --eval-every steps
(all of it with --eval-batches 0). With --keep-best the weights of the best validation step are
the ones saved (the preset's corpus is small enough to overfit); --patience N also stops after
N evaluations without a new best. The checkpoint is Hugging Face's GPT2LMHeadModel layout
(config.json, generation_config.json, model.safetensors in float16 with `transformer.*` names and
the LM head tied to wte) plus training.json: the run's summary and validation curve.
"""
import argparse
import copy
import json
import math
import os
import subprocess
import sys
import time

# Passive OpenMP waits: the box is shared, and spinning threads burn our CPU
# share while the other thread (or OpenBLAS) works. Must be set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# Deterministic cuBLAS (torch.use_deterministic_algorithms on CUDA); read when CUDA initialises.
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT, GPTConfig  # noqa: E402
from checkpoint import load_checkpoint, save_checkpoint  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

# Named recipes. brown-8x256 is the bundled model: on one H200 (torch 2.11) it ran 2,319 steps in
# 185 s and kept step 950 (validation loss 5.9392 on 1024-token windows).
PRESETS = {
    'brown-8x256': dict(n_layer=8, n_embd=256, head_dim=64, block=1024, batch=32, lr=8e-4, warmup=50,
                        max_steps=2319, dropout=0.2, eval_every=25, eval_batches=0, keep_best=True,
                        full_eval=True, seed=1337, name='L8E256d2', out=os.path.join('checkpoints', 'edge-gpt2-brown')),
    # The same code path (dropout, whole-set evaluation, best-step weights, HF layout, training.json)
    # at a size two CPU cores train in minutes: 40 steps, validation on 4,096 tokens.
    'smoke': dict(n_layer=2, n_embd=64, head_dim=32, block=64, batch=4, lr=3e-3, warmup=5, max_steps=40,
                  dropout=0.2, eval_every=10, eval_batches=0, val_tokens=4096, keep_best=True, full_eval=True, seed=1337,
                  name='smoke', out=os.path.join('.tmp', 'train-smoke')),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument('--preset', choices=sorted(PRESETS), help='a named recipe; explicit flags override it')
    p.add_argument('--n-layer', type=int, default=4)
    p.add_argument('--n-embd', type=int, default=128)
    p.add_argument('--head-dim', type=int, default=32)
    p.add_argument('--n-positions', type=int, default=1024)
    p.add_argument('--block', type=int, default=128)
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--min-lr-frac', type=float, default=0.1)
    p.add_argument('--warmup', type=int, default=60)
    p.add_argument('--weight-decay', type=float, default=0.1, help='on matrices and embeddings; biases and LayerNorms get 0')
    p.add_argument('--grad-clip', type=float, default=1.0)
    p.add_argument('--dropout', type=float, default=0.0, help='embedding, attention and residual dropout while training')
    p.add_argument('--max-steps', type=int, default=0)
    p.add_argument('--time-budget', type=float, default=0, help='seconds; sweep only (not deterministic)')
    p.add_argument('--deadline', default='', help='HH:MM (UTC): safety stop; a run cut short this way is not deterministic')
    p.add_argument('--stop-step', type=int, default=0,
                   help='stop after this step with the schedule of --max-steps (replays a run cut by --deadline)')
    p.add_argument('--snapshot', default='', help='also save a checkpoint here at every eval (fallback if cut short)')
    p.add_argument('--eval-every', type=int, default=100)
    p.add_argument('--eval-batches', type=int, default=16, help='batches of validation windows per eval; 0: all of val.bin')
    p.add_argument('--val-tokens', type=int, default=0, help='use only the first N tokens of val.bin (0: all of it)')
    p.add_argument('--keep-best', action='store_true', help='save the weights of the best validation step, not the last')
    p.add_argument('--patience', type=int, default=0, help='with --keep-best: stop after N evals without a new best (0: never)')
    p.add_argument('--full-eval', action='store_true', help='final loss on all of val.bin')
    p.add_argument('--device', default='auto', help='auto (cuda when available, else cpu), cpu or cuda')
    p.add_argument('--compile', action='store_true', help='torch.compile the model (torch >= 2, CUDA)')
    p.add_argument('--seed', type=int, default=1337)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--data', default=os.path.join(ROOT, 'data', 'brown'))
    p.add_argument('--out', default='', help='checkpoint dir (HF layout); empty: do not save')
    p.add_argument('--reference', action='store_true', help='run reference.py on the saved checkpoint')
    p.add_argument('--name', default='run')
    p.add_argument('--log', default='')
    a = p.parse_args(argv)
    if a.preset:
        p.set_defaults(**PRESETS[a.preset])
        a = p.parse_args(argv)  # flags given explicitly still win over the preset
    return a


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


def autocast(device):
    """bf16 autocast on CUDA (fp32 master weights and optimizer state); a no-op context on CPU."""
    if device.type == 'cuda':
        return torch.autocast('cuda', dtype=torch.bfloat16)
    return torch.autocast('cpu', enabled=False)


@torch.no_grad()
def evaluate(model, data, block, batch, n_batches=None, device=torch.device('cpu')):
    """Mean loss over consecutive non-overlapping windows (fixed, seed-free); n_batches None or 0: all."""
    was_training = model.training
    model.eval()
    n_win = (len(data) - 1) // block
    if n_batches:
        n_win = min(n_win, n_batches * batch)
    total, count = 0.0, 0
    for s in range(0, n_win, batch):
        idx = torch.arange(s, min(s + batch, n_win)) * block
        x = torch.stack([data[i:i + block] for i in idx]).to(device)  # [B, T]
        y = torch.stack([data[i + 1:i + 1 + block] for i in idx]).to(device)
        with autocast(device):
            _, loss = model(x, y)
        total += loss.item() * x.numel()
        count += x.numel()
    model.train(was_training)
    return total / count


def lr_at(step, max_steps, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    frac = (step - a.warmup) / max(1, max_steps - a.warmup)
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def pick_device(name):
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('train: --device cuda, but torch sees no CUDA device (torch %s)' % torch.__version__)
    return torch.device(name)


def main():
    a = parse_args()
    device = pick_device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if device.type == 'cuda':
        # TF32 for any float32 matmul left outside autocast; bf16 kernels are not bitwise deterministic anyway.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.use_deterministic_algorithms(True)
    log = Log(a.log)
    train, val = load_bin(os.path.join(a.data, 'train.bin')), load_bin(os.path.join(a.data, 'val.bin'))
    if a.val_tokens:
        val = val[:a.val_tokens]
    cfg = GPTConfig(n_layer=a.n_layer, n_head=max(1, a.n_embd // a.head_dim), n_embd=a.n_embd, n_positions=a.n_positions,
                    dropout=a.dropout)
    model = GPT(cfg).to(device)
    log(f'{a.name}: {device} (torch {torch.__version__}{", bf16 autocast" if device.type == "cuda" else ""}) '
        f'config {cfg.to_dict()} params {model.num_params():,} train {len(train):,} val {len(val):,} tokens')
    fwd = torch.compile(model) if a.compile else model

    # Weight decay on matrices and embeddings (dim >= 2), none on biases and LayerNorm gains/shifts.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    extra = {'fused': True} if device.type == 'cuda' and 'fused' in torch.optim.AdamW.__init__.__code__.co_varnames else {}
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': a.weight_decay},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=a.lr, betas=(0.9, 0.95), eps=1e-8, **extra)
    gen = torch.Generator().manual_seed(a.seed)
    max_steps = a.max_steps or 10**9
    deadline, stopped_early, stop_reason = None, False, ''
    if a.deadline:
        hh, mm = (int(v) for v in a.deadline.split(':'))
        now = time.gmtime()
        deadline = time.time() + ((hh * 60 + mm) - (now.tm_hour * 60 + now.tm_min)) * 60 - now.tm_sec
    t0 = time.time()
    step, ema, history = 0, None, []
    since_eval, since_eval_n = 0.0, 0
    best = {'step': 0, 'val_loss': math.inf, 'state': None}
    evals_since_best = 0
    val_key = f'val_loss_block{a.block}'
    while step < max_steps:
        if a.time_budget and step == 5:
            # Sweep mode: fix the schedule length (and warmup) from the measured speed.
            max_steps = max(20, int(a.time_budget / ((time.time() - t0) / 5)))
            a.warmup = max(5, min(a.warmup, max_steps // 10))
            log(f'{a.name}: time budget {a.time_budget:.0f}s -> max_steps {max_steps}, warmup {a.warmup}')
        if a.stop_step and step >= a.stop_step:
            log(f'{a.name}: stop-step {a.stop_step} reached (schedule length {max_steps})')
            stop_reason = 'stop-step'
            break
        if deadline and time.time() > deadline:
            log(f'{a.name}: DEADLINE reached at step {step}/{max_steps}; stopping early (schedule not finished)')
            stopped_early, stop_reason = True, 'deadline'
            break
        for g in opt.param_groups:
            g['lr'] = lr_at(step, max_steps, a)
        ix = torch.randint(0, len(train) - a.block - 1, (a.batch,), generator=gen)
        x = torch.stack([train[i:i + a.block] for i in ix]).to(device)  # [B, T]
        y = torch.stack([train[i + 1:i + 1 + a.block] for i in ix]).to(device)
        with autocast(device):
            _, loss = fwd(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        step += 1
        lv = loss.item()
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        since_eval += lv
        since_eval_n += 1
        if step % 20 == 0:
            el = time.time() - t0
            log(f'{a.name}: step {step}/{max_steps} loss {ema:.4f} lr {lr_at(step, max_steps, a):.2e} '
                f'{step * a.batch * a.block / el:.0f} tok/s elapsed {el:.0f}s')
        if step % a.eval_every == 0 or step == max_steps:
            vl = evaluate(model, val, a.block, a.batch, a.eval_batches, device)
            history.append({'step': step, 'train_loss': round(since_eval / since_eval_n, 4), 'train_loss_ema': ema,
                            val_key: round(vl, 4), 'val_loss': vl, 'elapsed_s': time.time() - t0})
            since_eval, since_eval_n = 0.0, 0
            mark = ''
            if vl < best['val_loss']:
                best.update(step=step, val_loss=vl, state=copy.deepcopy(model.state_dict()) if a.keep_best else None)
                evals_since_best, mark = 0, ' (best)'
            else:
                evals_since_best += 1
            log(f'{a.name}: step {step} val_loss {vl:.4f} (ppl {math.exp(vl):.1f}){mark}')
            if a.snapshot:
                save_checkpoint(model, a.snapshot)
            if a.keep_best and a.patience and evals_since_best >= a.patience:
                log(f'{a.name}: no better validation loss for {a.patience} evals: stopping at step {step} (best {best["step"]})')
                stop_reason = 'patience'
                break
    train_s = time.time() - t0
    if a.keep_best and best['state'] is not None:
        model.load_state_dict(best['state'])
        log(f'{a.name}: keeping the weights of step {best["step"]} (val loss {best["val_loss"]:.4f})'
            + (f', not of the last step {step}' if best['step'] != step else ' (the last)'))
    kept_step = best['step'] if a.keep_best and best['state'] is not None else step
    summary = {'name': a.name, 'preset': a.preset, 'n_layer': a.n_layer, 'n_embd': a.n_embd, 'dropout': a.dropout,
               'lr': a.lr, 'block': a.block, 'batch': a.batch, 'steps': step, 'best_step': best['step'] if history else None,
               'kept_step': kept_step, f'best_{val_key}': best['val_loss'] if history else None,
               'device': str(device), 'torch': torch.__version__,
               'config': cfg.to_dict(), 'params': model.num_params(), 'args': vars(a),
               'max_steps': max_steps, 'stopped_early': stopped_early, 'stop_reason': stop_reason,
               'tokens_seen': step * a.batch * a.block, 'train_s': train_s, 'train_seconds': train_s,
               'train_loss_ema': ema, 'val_loss_subset': history[-1]['val_loss'] if history else None,
               'history': history}
    if a.full_eval:
        # The number eval_ppl.py reports: all of val.bin in non-overlapping 128-token windows.
        vl = evaluate(model, val, 128, a.batch, None, device)
        summary['val_loss_block128'] = vl
        summary['val_ppl_block128'] = math.exp(vl)
        summary['val_loss_full'] = vl  # (older name, kept for the sweep's readers)
        summary['val_ppl_full'] = math.exp(vl)
        log(f'{a.name}: full val loss {vl:.4f} ppl {math.exp(vl):.2f} (block 128, non-overlapping)')
    if a.out:
        save_checkpoint(model.cpu(), a.out)
        if a.full_eval:
            # What ships is float16: reload it (float32 compute on CPU) and score it the same way.
            vl16 = evaluate(load_checkpoint(a.out), val, 128, a.batch, None, torch.device('cpu'))
            summary['reloaded_fp16_val_loss_block128'] = vl16
            log(f'{a.name}: float16 checkpoint reloaded: val loss {vl16:.5f} (block 128)')
        with open(os.path.join(a.out, 'training.json'), 'w') as f:
            json.dump(summary, f, indent=1)
            f.write('\n')
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

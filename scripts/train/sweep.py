"""Short sweep: several configs trained side by side for the same wall time.

  /usr/bin/python3 scripts/train/sweep.py [--minutes 7] [--configs 4x64,4x128,...]

All configs run at once (1 thread each) so they see the same machine load —
the 2-core box is shared, and sequential runs would compare different loads.
Each run fixes its step count from its own speed over the first steps, then
reports val loss on the same 16 × 8 × 128 held-out tokens. Table →
data/train/sweep.json and stdout.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--minutes', type=float, default=7)
    p.add_argument('--configs', default='4x64,2x128,4x128,6x128')
    p.add_argument('--lr', type=float, default=2e-3)
    a = p.parse_args()
    os.makedirs(os.path.join(ROOT, 'data', 'logs'), exist_ok=True)
    procs = []
    for c in a.configs.split(','):
        layers, width = (int(v) for v in c.split('x'))
        name = f'sweep-{layers}x{width}'
        cmd = [sys.executable, os.path.join(HERE, 'train.py'), '--n-layer', str(layers), '--n-embd', str(width),
               '--time-budget', str(a.minutes * 60), '--threads', '1', '--lr', str(a.lr), '--warmup', '40',
               '--eval-every', '100000', '--name', name, '--log', os.path.join(ROOT, 'data', 'logs', 'sweep.log')]
        procs.append((name, subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)))
    rows = []
    for name, proc in procs:
        proc.wait()
        with open(os.path.join(ROOT, 'data', 'train', f'{name}.json')) as f:
            s = json.load(f)
        rows.append({'name': name, 'params': s['params'], 'steps': s['steps'], 'tokens': s['tokens_seen'],
                     'train_s': round(s['train_seconds']), 'train_loss': s['train_loss_ema'], 'val_loss': s['val_loss_subset']})
    rows.sort(key=lambda r: r['val_loss'])
    print(f"{'config':<14}{'params':>12}{'steps':>7}{'tokens':>9}{'sec':>6}{'train':>8}{'val':>8}")
    for r in rows:
        print(f"{r['name']:<14}{r['params']:>12,}{r['steps']:>7}{r['tokens']:>9}{r['train_s']:>6}{r['train_loss']:>8.3f}{r['val_loss']:>8.3f}")
    with open(os.path.join(ROOT, 'data', 'train', 'sweep.json'), 'w') as f:
        json.dump({'minutes': a.minutes, 'rows': rows}, f, indent=2)


if __name__ == '__main__':
    main()

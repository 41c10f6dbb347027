"""Speed-up of a ground-truth batch from 1 to 2 Ray workers, measured side by side on one local Ray cluster.

One cluster (num_cpus=2, started once, not timed) runs the same batch of from-scratch trainings (NAS-Bench-201 cells,
C=8, 16x16 images, one thread per task) into a fresh table with `RayExecutor(workers=1)` and with `workers=2`,
interleaved (1, 2, 1, 2, ...); the batch's wall time (submission to last result) is compared. Each result is also
checked against the local backend's table (the same numbers, bit for bit). On a machine shared with other jobs the
wall times are noisy: the load average is printed beside them.
Tasks of a few seconds (--n-train 2000 --epochs 1) measure Ray's per-task overhead more than the parallelism.
Run: .venv/bin/python bench/bench_executor.py [--cells 8] [--reps 2] [--n-train 8000] [--epochs 3]
"""
import argparse, functools, os, statistics, tempfile
from pathlib import Path
import pandas as pd
import torch
from mixpath_lab.benchmarks import NB201
from mixpath_lab.cli import _fresh_subnet
from mixpath_lab.data import cifar10_splits
from mixpath_lab.executor import RayExecutor, init_ray
from mixpath_lab.groundtruth import ScratchConfig, run_batch
from mixpath_lab.spaces import nb201
from mixpath_lab.supernet import Supernet

torch.set_num_threads(1)
COLS = ['arch_str', 'accuracy', 'val_loss', 'train_loss', 'steps', 'n_params']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cells', type=int, default=8); ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--n-train', type=int, default=8000); ap.add_argument('--epochs', type=int, default=3)
    a = ap.parse_args()
    parts = cifar10_splits(None, {'train': a.n_train, 'val': 500}, seed=0)
    data = {k: parts[k] for k in ('train', 'val')}
    archs, fn = NB201().sample(0, a.cells, unique=True), functools.partial(_fresh_subnet, Supernet(nb201(C=8, N=1), norm='none'))
    cfg, tmp = ScratchConfig(epochs=a.epochs, batch_size=128, size=16), Path(tempfile.mkdtemp())
    run_batch(archs, fn, data, cfg, tmp/'local.csv', progress=False)
    ref = pd.read_csv(tmp/'local.csv')[COLS].sort_values('arch_str').reset_index(drop=True)
    ray = init_ray(attempts=8, num_cpus=2, include_dashboard=False, logging_level='WARNING')   # a busy machine
    walls, task_s = {1: [], 2: []}, {1: [], 2: []}
    try:
        for r in range(a.reps):
            for w in (1, 2):
                ex = RayExecutor(workers=w)
                run_batch(archs, fn, data, cfg, tmp/f'w{w}-{r}.csv', progress=False, executor=ex)
                got = pd.read_csv(tmp/f'w{w}-{r}.csv')[COLS].sort_values('arch_str').reset_index(drop=True)
                pd.testing.assert_frame_equal(got, ref)
                walls[w].append(ex.wall); task_s[w].append(ex.summary().seconds.sum())
                print(f'rep {r} workers={w}: {ex.report()}; load average {os.getloadavg()[0]:.1f}', flush=True)
    finally: ray.shutdown()
    m1, m2 = statistics.median(walls[1]), statistics.median(walls[2])
    print(f'{a.cells} cells, {a.n_train} images, {a.epochs} epoch(s): median wall 1 worker {m1:.1f} s, 2 workers {m2:.1f} s, '
          f'speed-up {m1 / m2:.2f}x (median summed task time {statistics.median(task_s[1]):.1f} s vs '
          f'{statistics.median(task_s[2]):.1f} s); every table equal to the local backend\'s')


if __name__ == '__main__': main()

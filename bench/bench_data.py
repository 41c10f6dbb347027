"""Data pipeline vs training: is feeding the batches a small part of a training epoch?

Times, in the same run, (a) one epoch of `Batches` over the 'train' split of the embedded CIFAR-10
subset (8,000 images) with augmentation (random crop pad 4, flip, Cutout 8) at the default proxy size
16x16, batch 256, and (b) one epoch of training steps (forward, backward, SGD) at the same batch on
the NAS-Bench-201 supernet `Supernet(nb201(C=16, N=1), norm='sbn')` with a random arch per step. Prints both and their ratio; the
target is a pipeline at most 10% of a training epoch. The two are interleaved over rounds, best
round each, so machine load hits them alike.
Usage: python bench/bench_data.py [--threads 2] [--rounds 2] [--batch 256] [--size 16]
"""
import argparse, time
import numpy as np
import torch
import torch.nn.functional as F
from mixpath_lab.data import Batches, load_cifar10, split_indices
from mixpath_lab.spaces import nb201
from mixpath_lab.supernet import Supernet


def model_and_call(seed: int = 0):
    "The NB201 supernet with a random arch per step; returns (module, call(x, step), name)."
    space = nb201(C=16, N=1); net = Supernet(space, norm='sbn')
    archs = [space.sample(np.random.default_rng([seed, i])) for i in range(1000)]
    return net, (lambda x, i: net(x, archs[i % len(archs)])), "Supernet(nb201(C=16, N=1), norm='sbn'), random arch per step"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--batch', type=int, default=256); ap.add_argument('--size', type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    x, y = load_cifar10()
    tr = torch.from_numpy(split_indices(len(x), (0.8, 0.1, 0.1), seed=0)['train'])
    t0 = time.perf_counter()
    batches = Batches(x[tr], y[tr], a.batch, seed=0, augment=True, size=a.size, cutout=a.size // 2)
    t_setup = time.perf_counter() - t0
    net, call, name = model_and_call()
    net.train(); opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)

    def data_epoch(e):
        batches.set_epoch(e); t = time.perf_counter()
        for xb, yb in batches: pass
        return time.perf_counter() - t

    def train_epoch(e, steps=None):
        batches.set_epoch(e); staged = list(batches)[:steps]  # batches made outside the timed region
        t = time.perf_counter()
        for i, (xb, yb) in enumerate(staged):
            opt.zero_grad(set_to_none=True); F.cross_entropy(call(xb, i), yb).backward(); opt.step()
        return time.perf_counter() - t

    train_epoch(0, steps=3)  # warm-up (allocator, kernels)
    d, t = [], []
    for r in range(a.rounds): d.append(data_epoch(r + 1)); t.append(train_epoch(r + 1))
    dm, tm = min(d), min(t)
    print(f'threads={a.threads} batch={a.batch} size={a.size}x{a.size} images={len(tr)} batches/epoch={len(batches)} '
          f'(best of {a.rounds} interleaved rounds)')
    print(f'  model: {name}')
    print(f'  Batches setup (downsample + pad, once): {1e3 * t_setup:7.1f} ms')
    print(f'  data epoch  (crop+flip+cutout+normalize): {1e3 * dm:7.1f} ms  ({1e3 * dm / len(batches):.2f} ms/batch)')
    print(f'  train epoch (fwd+bwd+SGD, batches ready): {1e3 * tm:7.1f} ms  ({1e3 * tm / len(batches):.1f} ms/step)')
    print(f'  ratio data / train: {dm / tm:.3f}  (target <= 0.10: {"met" if dm / tm <= 0.10 else "NOT met"})')


if __name__ == '__main__':
    main()

"""NAS-Bench-101 cell supernet and mixpath_bench: training-step time and from-scratch cost at the CPU proxy.

Part 1: one SGD step (forward, backward, nesterov SGD) of the cell supernet nb101(C=16, N=1) with Shadow BN at
batch 256, per active-node count k = 1..4, channels-last and NCHW, at 32x32 and 16x16.
Part 2: one epoch of `groundtruth.train_from_scratch` (batch 256) on --images random images for the smallest and the
largest arch of mixpath_bench() (norm 'bn'), at 32x32 and 16x16.
Usage: python bench/bench_nb101.py [--threads 1] [--images 5000] [--part 12] [--sizes 32,16]
"""
import argparse, time
import numpy as np
import torch
import torch.nn.functional as F
from mixpath_lab.nb101 import nb101, mixpath_bench, _draw_cell
from mixpath_lab.supernet import Supernet
from mixpath_lab.groundtruth import ScratchConfig, train_from_scratch


def step_time(net, archs, x, y, warmup=1, timed=2):
    "Median (wall, CPU) seconds per training step of `net(x, arch)` over archs, after `warmup` steps each."
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    wall, cpu = [], []
    for a in archs:
        for i in range(warmup + timed):
            t, c = time.perf_counter(), time.process_time()
            opt.zero_grad(set_to_none=True); F.cross_entropy(net(x, a), y).backward(); opt.step()
            if i >= warmup: wall.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def part1(batch):
    rng = np.random.default_rng(0)
    archs = {k: [_draw_cell(rng, k) for _ in range(2)] for k in (1, 2, 3, 4)}
    for size in (32, 16):
        x, y = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))
        for cl in (True, False):
            torch.manual_seed(0); net = Supernet(nb101(4, C=16, N=1), 'sbn', channels_last=cl).train()
            row = {k: step_time(net, a, x, y) for k, a in archs.items()}
            print(f'  nb101 C=16 N=1 {size}x{size} {"channels_last" if cl else "NCHW         "}  ' + '  '.join(
                f'k={k}: cpu {1e3 * c:6.0f} ms (wall {1e3 * w:6.0f})' for k, (w, c) in row.items()), flush=True)


def part2(n, sizes):
    space = mixpath_bench(); sup = Supernet(space, 'bn')
    g = torch.Generator().manual_seed(0)
    part = lambda k: (torch.randint(0, 256, (k, 3, 32, 32), dtype=torch.uint8, generator=g),
                      torch.randint(0, 10, (k,), generator=g))
    data = {'train': part(n), 'val': part(500)}
    for size in sizes:
        cfg = ScratchConfig(epochs=1, batch_size=256, size=None if size == 32 else size)
        for a in ('dw3|dw3|dw3', 'dw3+dw5+dw7|dw3+dw5+dw7|dw3+dw5+dw7'):
            c = time.process_time()
            r = train_from_scratch(lambda s: sup.subnet(s, fresh=True), a, data, cfg, seed=0)
            print(f'  mixpath_bench {a:36s} {size}x{size}: 1 epoch on {n} images '
                  f'{r["seconds"]:6.1f} s wall, '
                  f'{time.process_time() - c:6.1f} s cpu, {r["steps"]} steps, {r["n_params"]} params', flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--images', type=int, default=5000); ap.add_argument('--part', default='12')
    ap.add_argument('--sizes', default='32,16', help='image sizes of part 2, comma-separated')
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    print(f'threads={a.threads} (process CPU time is the steadier figure on a shared machine)')
    if '1' in a.part: part1(a.batch)
    if '2' in a.part: part2(a.images, [int(s) for s in a.sizes.split(',')])


if __name__ == '__main__': main()

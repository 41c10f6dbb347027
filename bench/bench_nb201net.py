"""NAS-Bench-201 cell supernet: training-step time at the CPU proxy scale (16x16, C=16, N=1, batch 256).

Measures, in the same run and on the same sampled archs, one SGD step (forward, backward, nesterov
SGD) of the supernet (Shadow BN, NCHW and channels_last), of its exported standalone subnet for the
same arch (the baseline: the ratio is the supernet's own overhead) and of the plain NAS-Bench-201
network (norm='none', NCHW), and prints the time per step and the ratios.
Usage: python bench/bench_nb201net.py [--threads 1] [--archs 6] [--batch 256]
"""
import argparse, time
import numpy as np
import torch
import torch.nn.functional as F
from mixpath_lab.spaces import nb201
from mixpath_lab.supernet import Supernet
from mixpath_lab.nb201net import NB201Net


def step_time(model_fn, archs, xs, y, warmup=1, timed=2):
    "Median (wall, CPU) seconds per training step over archs; per arch `warmup` untimed steps first."
    times, cpu = [], []
    for a in archs:
        net, call = model_fn(a)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        for i in range(warmup + timed):
            t, c = time.perf_counter(), time.process_time()
            opt.zero_grad(set_to_none=True); F.cross_entropy(call(xs), y).backward(); opt.step()
            if i >= warmup: times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    return float(np.median(times)), float(np.median(cpu))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--archs', type=int, default=6)
    ap.add_argument('--batch', type=int, default=256); ap.add_argument('--size', type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    space = nb201(C=16, N=1)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(a.archs)]
    x, y = torch.randn(a.batch, 3, a.size, a.size), torch.randint(0, 10, (a.batch,))
    sup = Supernet(space, 'sbn', channels_last=False).train(); sup_cl = Supernet(space, 'sbn', channels_last=True).train()
    res = {}
    # interleave the variants over two rounds so machine load hits them alike
    for _ in range(2):
        for name, fn in [('supernet sbn NCHW', lambda ar: (sup, lambda t: sup(t, ar))),
                         ('supernet sbn channels_last', lambda ar: (sup_cl, lambda t: sup_cl(t, ar))),
                         ('its subnet, channels_last', lambda ar: (lambda n: (n, n))(sup_cl.subnet(ar))),
                         ('subnet (plain NB201 net) NCHW', lambda ar: (lambda n: (n, n))(NB201Net(space, ar).train()))]:
            res.setdefault(name, []).append(step_time(fn, archs, x, y))
    wall = {k: min(w for w, _ in v) for k, v in res.items()}; cpu = {k: min(c for _, c in v) for k, v in res.items()}
    base = 'its subnet, channels_last'
    print(f'threads={a.threads} batch={a.batch} size={a.size} C=16 N=1, median over {a.archs} sampled archs x 2 steps after 1 warm-up step each (best of 2 rounds)')
    print(f'  (wall time suffers from other processes on a shared machine; process CPU time is the steadier figure)')
    for k in wall:
        print(f'  {k:32s} wall {1e3 * wall[k]:7.1f} ms/step  cpu {1e3 * cpu[k]:7.1f} ms/step   '
              f'ratio to subnet: wall {wall[k] / wall[base]:5.2f} cpu {cpu[k] / cpu[base]:5.2f}')
    cl, nchw = 'supernet sbn channels_last', 'supernet sbn NCHW'
    print(f'  channels_last / NCHW (supernet): wall {wall[cl] / wall[nchw]:.2f} cpu {cpu[cl] / cpu[nchw]:.2f}')


if __name__ == '__main__':
    main()

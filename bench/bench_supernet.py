"""Supernet speed, measured side by side (CPU, 2 threads): ratios, not absolute claims.

(a) Shadow BN vs one shared BN: training step on --sbn-archs sampled S1 archs, each on both sides (target: SBN <= 1.03x),
    with an identical second one-BN supernet as the control (the ratio noise alone gives).
(b) supernet training step on a sampled arch vs the standalone subnet of that arch (target <= 1.15x).
(c) S1 (m=2) supernet training step, batch 64, 32x32, images/s, channels_last vs NCHW
    (target: at least twice the official MixPath code's speed on the same machine).

Each comparison interleaves its sides (alternating order) and reports medians, so load on the
machine affects both sides alike; process CPU seconds are reported too (less sensitive to other
processes on a shared machine: 2 * batch / CPU-s is the speed on 2 idle cores if both threads stay busy). Run: `python bench/bench_supernet.py [--reps 5] [--batch 64]`.
"""
from __future__ import annotations
import argparse, os, statistics, time
# On a shared, oversubscribed machine, OpenMP threads that spin while their partner is descheduled burn
# CPU and wall time (measured here: a batch-4 S1 step took 6.7 CPU-s spinning vs 0.6 passive). Passive
# waiting keeps both sides' numbers honest; export OMP_WAIT_POLICY=ACTIVE to measure the default instead.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F
from mixpath_lab.spaces import mixpath_s1
from mixpath_lab.supernet import Supernet

AUTHORS_IMG_S = 17.0


def make_step(model, fwd, x, y):
    "One SGD training step (MixPath defaults: momentum 0.9, wd 3e-4, clip 5)."
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(fwd(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    return step


CPU = {}   # median process CPU seconds (all threads) per call, by side, of the last `interleaved` run


def interleaved(sides: dict, reps: int, warmup: int = 1) -> dict[str, float]:
    "Median wall seconds per call of each side; sides alternate order every repetition (CPU seconds in `CPU`)."
    for _ in range(warmup):
        for f in sides.values(): f()
    t, c = {k: [] for k in sides}, {k: [] for k in sides}
    for r in range(reps):
        for k in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            t0, c0 = time.perf_counter(), time.process_time(); sides[k]()
            t[k].append(time.perf_counter() - t0); c[k].append(time.process_time() - c0)
    CPU.clear(); CPU.update({k: statistics.median(v) for k, v in c.items()})
    return {k: statistics.median(v) for k, v in t.items()}


def cpu_note(a, b):
    return f"[CPU time: {CPU[a]:.2f} vs {CPU[b]:.2f} s, ratio {CPU[a]/CPU[b]:.3f}]"


def data(batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)


def _ratio_ci(t, a, b, n_archs):
    "Mean of the paired per-repetition ratios a/b over all archs, with a 95% bootstrap CI."
    pairs = np.array([u / v for i in range(n_archs) for u, v in zip(t[a, i], t[b, i])])
    ci = scipy.stats.bootstrap((pairs,), np.mean, n_resamples=2000, method='percentile', rng=0).confidence_interval
    return pairs.mean(), ci.low, ci.high


def bench_sbn_vs_bn(reps, batch, n_archs=6):
    """SBN vs one BN on `n_archs` sampled S1 archs: per repetition, every arch runs on every side (rotating order).
    A second, identical one-BN supernet (`bn2`) is the control: bn2/bn is what the machine's noise alone gives a
    ratio, so SBN's cost is real only where its interval clears the control's."""
    space = mixpath_s1(2); x, y = data(batch)
    rng = np.random.default_rng(3); archs = [space.sample(rng) for _ in range(n_archs)]
    nets = {}
    for k, norm in (('sbn', 'sbn'), ('bn', 'bn'), ('bn2', 'bn')):
        torch.manual_seed(0); nets[k] = Supernet(space, norm).train()
    steps = {k: {i: make_step(net, lambda x, a=a, net=net: net(x, a), x, y) for i, a in enumerate(archs)}
             for k, net in nets.items()}
    for k in steps:   # warm-up: every arch once per side
        for f in steps[k].values(): f()
    t, order = {(k, i): [] for k in steps for i in range(n_archs)}, list(steps)
    for r in range(reps):
        for i in range(n_archs):
            j = (r + i) % len(order)
            for k in order[j:] + order[:j]:
                c0 = time.process_time(); steps[k][i](); t[k, i].append(time.process_time() - c0)
    per_arch = [statistics.median(t['sbn', i]) / statistics.median(t['bn', i]) for i in range(n_archs)]
    med = statistics.median(per_arch)
    (m, lo, hi), (cm, clo, chi) = _ratio_ci(t, 'sbn', 'bn', n_archs), _ratio_ci(t, 'bn2', 'bn', n_archs)
    print(f"(a) SBN vs shared BN, {n_archs} sampled S1 archs x {reps} interleaved reps, batch {batch}, process CPU "
          f"time: median of per-arch ratios SBN/BN = {med:.3f} (target <= 1.03); mean of paired ratios "
          f"{m:.3f} [95% bootstrap CI {lo:.3f}, {hi:.3f}]; control (an identical one-BN supernet) bn2/bn "
          f"{cm:.3f} [{clo:.3f}, {chi:.3f}]; per arch SBN/BN: {' '.join(f'{v:.3f}' for v in per_arch)}")
    return med


def bench_supernet_vs_subnet(reps, batch):
    space = mixpath_s1(2); x, y = data(batch)
    arch = space.sample(np.random.default_rng(1))
    torch.manual_seed(0); net = Supernet(space, 'sbn').train(); sub = net.subnet(arch).train()
    m = interleaved({'supernet': make_step(net, lambda x: net(x, arch), x, y),
                     'subnet': make_step(sub, sub, x, y)}, reps)
    print(f"(b) supernet {m['supernet']*1e3:.0f} ms/step, standalone subnet {m['subnet']*1e3:.0f} ms/step: "
          f"ratio = {m['supernet']/m['subnet']:.3f} (target <= 1.15) {cpu_note('supernet', 'subnet')}\n    arch {space.encode(arch)}")
    return m['supernet'] / m['subnet']


def bench_channels_last(reps, batch):
    space = mixpath_s1(2); x, y = data(batch)
    torch.manual_seed(0); cl = Supernet(space, 'sbn', channels_last=True).train()
    torch.manual_seed(0); nchw = Supernet(space, 'sbn', channels_last=False).train()
    rng = np.random.default_rng(2); archs = [space.sample(rng) for _ in range(reps + 1)]
    it = {'cl': iter(archs), 'nchw': iter(archs)}   # the same arch sequence on both sides
    def side(net, key):
        step = make_step(net, lambda x: net(x, cur[key]), x, y); cur = {}
        def f(): cur[key] = next(it[key]); step()
        return f
    m = interleaved({'channels_last': side(cl, 'cl'), 'nchw': side(nchw, 'nchw')}, reps)
    ips = {k: batch / v for k, v in m.items()}
    print(f"(c) S1 m=2 train step, batch {batch}, 32x32: channels_last {ips['channels_last']:.1f} img/s "
          f"({m['channels_last']:.2f} s/step), NCHW {ips['nchw']:.1f} img/s ({m['nchw']:.2f} s/step); "
          f"channels_last/NCHW speed = {ips['channels_last']/ips['nchw']:.2f}x; "
          f"vs authors' ~{AUTHORS_IMG_S:.0f} img/s: {ips['channels_last']/AUTHORS_IMG_S:.2f}x (target >= 2) "
          f"{cpu_note('channels_last', 'nchw')}; CPU-bound estimate on 2 idle cores: "
          f"{2 * batch / CPU['channels_last']:.1f} img/s channels_last, {2 * batch / CPU['nchw']:.1f} img/s NCHW")
    return ips


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reps', type=int, default=5); p.add_argument('--batch', type=int, default=64)
    p.add_argument('--only', default='abc', help='which comparisons to run, e.g. "c"')
    p.add_argument("--threads", type=int, default=2)
    p.add_argument('--sbn-archs', type=int, default=6, help='sampled S1 archs of comparison (a)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ["OMP_WAIT_POLICY"]}, '
          f'batch {a.batch}, {a.reps} interleaved reps (medians), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs')
    if 'c' in a.only: bench_channels_last(a.reps, a.batch)
    if 'a' in a.only: bench_sbn_vs_bn(a.reps, a.batch, a.sbn_archs)
    if 'b' in a.only: bench_supernet_vs_subnet(a.reps, a.batch)

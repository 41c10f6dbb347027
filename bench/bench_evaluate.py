"""Cost of evaluating an arch with BN recalibration vs the bare forward passes it needs.

Per arch the evaluator runs n_recal train-mode forwards (recalibration) and one eval-mode pass over the
validation batches, plus its own work: saving, resetting and restoring BN statistics, switching modes,
counting correct predictions. Measured side by side in this run on the same materialized batches:
  bare    : the same forwards, no_grad, no evaluator
  used    : Evaluator(scope='used') (BNs reset on first use through pre-hooks; the default)
  all     : Evaluator(scope='all')  (every BN of the supernet saved and reset up front)
  cached  : a repeated call (cache hit)
Target: used / bare <= 1.5; cached ~ free. Run: .venv/bin/python bench/bench_evaluate.py
"""
import statistics, time
import numpy as np
import torch
from mixpath_lab.evaluate import Evaluator, bn_modules
from mixpath_lab.spaces import mixpath_s1, tiny
from mixpath_lab.supernet import Supernet

torch.set_num_threads(1)  # the benchmark machines are shared; one thread gives stable ratios

def batches(n, bs, size, seed):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(bs, 3, size, size, generator=g), torch.randint(0, 10, (bs,), generator=g)) for _ in range(n)]

def bare(net, arch, recal, val):
    t0 = time.perf_counter()
    with torch.no_grad():
        net.train()
        for x, _ in recal: net(x, arch)
        net.eval()
        for x, _ in val: net(x, arch)
    return time.perf_counter() - t0

def timed(fn):
    t0 = time.perf_counter(); fn(); return time.perf_counter() - t0

def run(name, space, norm, size, bs, n_recal, n_val, n_archs, reps=3):
    torch.manual_seed(0)
    net = Supernet(space, norm)
    recal, val = batches(n_recal, bs, size, 1), batches(n_val, bs, size, 2)
    evs = {s: Evaluator(net, recal, val, n_recal_batches=n_recal, scope=s) for s in ('used', 'all')}
    archs = [space.sample(np.random.default_rng(i)) for i in range(n_archs)]
    for a in archs[:1]: bare(net, a, recal, val)  # warm-up
    t = {k: [] for k in ('bare', 'used', 'all', 'cached')}
    for _ in range(reps):
        for a in archs:
            t['bare'].append(bare(net, a, recal, val))
            for s, ev in evs.items(): ev.clear(); t[s].append(timed(lambda: ev.accuracy(a)))
            t['cached'].append(timed(lambda: evs['used'].accuracy(a)))
    med = {k: statistics.median(v) for k, v in t.items()}
    print(f'{name}: {len(bn_modules(net))} BNs, norm={norm}, {n_recal} recal + {n_val} val batches of {bs} at {size}x{size}')
    print(f'  bare {med["bare"]*1e3:8.1f} ms | used {med["used"]*1e3:8.1f} ms (x{med["used"]/med["bare"]:.3f}) | '
          f'all {med["all"]*1e3:8.1f} ms (x{med["all"]/med["bare"]:.3f}) | cached {med["cached"]*1e6:6.1f} us '
          f'(x{med["cached"]/med["bare"]:.1e})')
    return med['used'] / med['bare']

if __name__ == '__main__':
    r1 = run('tiny (overhead-heavy: small convs, many BNs per FLOP)', tiny(m=3), 'combo', 16, 16, 10, 5, 6)
    r2 = run('S1 m=2 (MixPath CIFAR space)', mixpath_s1(2), 'sbn', 16, 16, 4, 2, 2, reps=2)
    print(f'evaluator / bare forwards: tiny x{r1:.3f}, S1 x{r2:.3f} (target <= 1.5)')

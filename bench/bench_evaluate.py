"""Cost of evaluating an arch with BN recalibration vs the bare forward passes it needs.

Per arch the evaluator runs n_recal train-mode forwards (recalibration) and one eval-mode pass over the
validation batches, plus its own work: saving, resetting and restoring BN statistics, switching modes,
counting correct predictions. Measured side by side in this run on the same materialized batches:
  bare    : the same forwards, no_grad, no evaluator
  used    : Evaluator(scope='used') (BNs reset on first use through pre-hooks; the default)
  all     : Evaluator(scope='all')  (every BN of the supernet saved and reset up front)
  cached  : a repeated call (cache hit)
Target: used / bare <= 1.5; cached ~ free.
Then S1 against the released code's evaluation (`s1_reference.RefS1`, a reconstruction of the authors' supernet:
eval-mode forwards over the validation batches, NCHW, no recalibration), on the same archs and batches, interleaved:
the workbench's `Evaluator` with inherited statistics (as the released code scores) in fp32 (BN folded into the
preceding conv, `ops.ConvBN`), in fp32 unfolded (`ConvBN.fold = False`: the previous evaluator), in bf16, and with
recalibration; target >= 2.5x the reference on the fp32 side. Then where the evaluator's time goes (torch.profiler, top ops).
Run: .venv/bin/python bench/bench_evaluate.py [--only ab] [--threads 1]
"""
import argparse, statistics, time
import numpy as np
import torch
from mixpath_lab.evaluate import Evaluator, bn_modules
from mixpath_lab.ops import ConvBN
from mixpath_lab.spaces import mixpath_s1, tiny
from mixpath_lab.supernet import Supernet
from s1_reference import RefS1   # bench/ is on the path when this file runs as a script


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

def vs_reference(n_archs=3, reps=3, bs=96, n_val=4, n_recal=4):
    "S1 m=2: the workbench's evaluation against the reconstructed released evaluation, same archs and batches."
    space = mixpath_s1(2); torch.manual_seed(0); net = Supernet(space, 'sbn'); ref = RefS1().eval()
    recal, val = batches(n_recal, bs, 32, 1), batches(n_val, bs, 32, 2)
    def reference(a):
        with torch.no_grad():
            for x, _ in val: ref(x, a).argmax(1)
    evs = {'fp32': Evaluator(net, recal, val, n_recal_batches=n_recal, recalibrate=False),
           'bf16': Evaluator(net, recal, val, n_recal_batches=n_recal, recalibrate=False, precision='bf16'),
           'recal': Evaluator(net, recal, val, n_recal_batches=n_recal)}
    sides = {'reference': reference, **{k: (lambda a, ev=ev: (ev.clear(), ev.accuracy(a))) for k, ev in evs.items()}}
    def unfolded(a):
        ConvBN.fold = False
        try: evs['fp32'].clear(); evs['fp32'].accuracy(a)
        finally: ConvBN.fold = True
    sides['unfolded'] = unfolded
    archs = [space.sample(np.random.default_rng(10 + i)) for i in range(n_archs)]
    for f in sides.values(): f(archs[0])   # warm-up
    t = {k: [] for k in sides}
    for r in range(reps):
        for i, a in enumerate(archs):
            for k in (list(sides) if (r + i) % 2 == 0 else list(sides)[::-1]): t[k].append(timed(lambda: sides[k](a)))
    med = {k: statistics.median(v) for k, v in t.items()}
    print(f'S1 m=2 evaluation, {n_val} x {bs} validation images, {n_archs} archs x {reps} reps, '
          f'{torch.get_num_threads()} threads (medians):')
    print(f"  reference (released code, NCHW fp32) {med['reference']*1e3:7.0f} ms | workbench fp32 "
          f"{med['fp32']*1e3:7.0f} ms ({med['reference']/med['fp32']:.2f}x; unfolded {med['unfolded']*1e3:.0f} ms, "
          f"{med['reference']/med['unfolded']:.2f}x) | bf16 {med['bf16']*1e3:7.0f} ms "
          f"({med['reference']/med['bf16']:.2f}x) | with recalibration ({n_recal} x {bs}) {med['recal']*1e3:7.0f} ms "
          f"(target >= 2.5x the reference on the fp32 side)")
    ev = evs['fp32']; ev.clear()
    with torch.profiler.profile() as prof: ev.accuracy(archs[0])
    print('  where the workbench fp32 evaluation spends its time (self CPU):')
    print('\n'.join('    ' + l for l in prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=8).splitlines()))
    return med['reference'] / med['fp32']

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', default='ab', help='a: evaluator vs bare forwards, b: S1 vs the released code')
    p.add_argument('--threads', type=int, default=1, help='torch threads (1: stable ratios on a shared machine)')
    a = p.parse_args(); torch.set_num_threads(a.threads)
    if 'a' in a.only:
        r1 = run('tiny (overhead-heavy: small convs, many BNs per FLOP)', tiny(m=3), 'combo', 16, 16, 10, 5, 6)
        r2 = run('S1 m=2 (MixPath CIFAR space)', mixpath_s1(2), 'sbn', 16, 16, 4, 2, 2, reps=2)
        print(f'evaluator / bare forwards: tiny x{r1:.3f}, S1 x{r2:.3f} (target <= 1.5)')
    if 'b' in a.only: vs_reference()

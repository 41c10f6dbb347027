"""Precision: fp32 vs bf16 autocast, side by side in one run (CPU, 2 threads): ratios, not absolute claims.

Rows (each a supernet as the workbench builds it: NAS-Bench-201 cells in channels_last, Shadow BN):
  nb201 proxy : one SGD training step, C=16, N=1, 16x16, batch 256 (the CPU proxy of the ranking runs)
  nb201 full  : one SGD training step, C=16, N=5, 32x32 (the benchmark's network size), batch --full-batch
  s1          : one SGD training step of the MixPath S1 supernet (m=2), 32x32, batch --s1-batch
  evaluation  : one `Evaluator` call on the proxy supernet (BN recalibration on 4 batches of 256, validation on
                1000 images)
A step is the trainer's: forward under `mixpath_lab.train.autocast_for`, cross-entropy on fp32 logits, backward, clip 5,
SGD (momentum 0.9, nesterov, wd 5e-4). Every repetition runs both sides on the same arch, in alternating order, and the
arch changes with the repetition; the table shows medians over repetitions and the ratio fp32 / bf16 (> 1: bf16 faster),
in wall and in process CPU time (the steadier figure on a shared machine). bf16's accuracy cost is not measured here.
bf16 is fast only where the CPU has bf16 instructions (AVX-512 BF16 or AMX: the header's `native bf16` says whether
oneDNN finds them); elsewhere autocast emulates bf16 and is several times slower than fp32.
Run: python bench/bench_precision.py [--reps 4] [--archs 2] [--threads 2]
"""
from __future__ import annotations
import argparse, os, statistics, time
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')   # as bench_supernet.py: spinning threads skew a shared machine
import numpy as np
import torch
import torch.nn.functional as F
from mixpath_lab.evaluate import Evaluator
from mixpath_lab.spaces import mixpath_s1, nb201
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import autocast_for


def make_step(net, precision: str, batch: int, size: int):
    "A function that runs one training step of `net` on arch `a` at `precision` (fixed random batch)."
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, 3, size, size, generator=g), torch.randint(0, 10, (batch,), generator=g)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    def step(a):
        opt.zero_grad(set_to_none=True)
        with autocast_for(precision): out = net(x, a)
        F.cross_entropy(out.float(), y).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0); opt.step()
    return step


def make_eval(net, precision: str):
    g = torch.Generator().manual_seed(1)
    recal = [(torch.randn(256, 3, 16, 16, generator=g), torch.randint(0, 10, (256,), generator=g)) for _ in range(4)]
    val = [(torch.randn(500, 3, 16, 16, generator=g), torch.randint(0, 10, (500,), generator=g)) for _ in range(2)]
    ev = Evaluator(net, recal, val, n_recal_batches=4, precision=precision)
    def run(a): ev.clear(); ev.result(a)
    return run


def interleaved(sides: dict, archs: list, reps: int) -> tuple[dict, dict]:
    "Median wall and CPU seconds per call of each side; both sides run each repetition's arch, order alternating."
    for a in archs:   # warm-up: every arch once per side (kernel selection, allocator)
        for f in sides.values(): f(a)
    t, c = {k: [] for k in sides}, {k: [] for k in sides}
    for r in range(reps):
        a = archs[r % len(archs)]
        for k in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            t0, c0 = time.perf_counter(), time.process_time(); sides[k](a)
            t[k].append(time.perf_counter() - t0); c[k].append(time.process_time() - c0)
    return {k: statistics.median(v) for k, v in t.items()}, {k: statistics.median(v) for k, v in c.items()}


def native_bf16() -> bool:
    "Whether oneDNN runs bf16 on this CPU natively (AVX-512 BF16 / AMX) rather than emulating it."
    try: return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError): return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reps', type=int, default=4); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--archs', type=int, default=2, help='sampled archs, cycled over the repetitions')
    ap.add_argument('--full-batch', type=int, default=64); ap.add_argument('--s1-batch', type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = {'nb201 proxy (C=16 N=1 16x16 b256)': (nb201(C=16, N=1), 'step', 256, 16),
            f'nb201 full (C=16 N=5 32x32 b{a.full_batch})': (nb201(C=16, N=5), 'step', a.full_batch, 32),
            f's1 m=2 (32x32 b{a.s1_batch})': (mixpath_s1(2), 'step', a.s1_batch, 32),
            'evaluation (nb201 proxy, recal 4x256 + val 1000)': (nb201(C=16, N=1), 'eval', 0, 16)}
    print(f'threads={torch.get_num_threads()} reps={a.reps} archs={a.archs} torch={torch.__version__} '
          f'cpu capability={torch.backends.cpu.get_cpu_capability()} native bf16={native_bf16()}', flush=True)
    print(f"{'row':50s} {'fp32 ms':>9s} {'bf16 ms':>9s} {'fp32/bf16 wall':>15s} {'fp32/bf16 cpu':>14s}")
    for name, (space, kind, batch, size) in rows.items():
        torch.manual_seed(0); net = Supernet(space, 'sbn').train()
        archs = [space.sample(np.random.default_rng(i)) for i in range(a.archs)]
        sides = {p: (make_step(net, p, batch, size) if kind == 'step' else make_eval(net, p)) for p in ('fp32', 'bf16')}
        wall, cpu = interleaved(sides, archs, a.reps)
        print(f"{name:50s} {wall['fp32'] * 1e3:9.1f} {wall['bf16'] * 1e3:9.1f} {wall['fp32'] / wall['bf16']:15.2f} "
              f"{cpu['fp32'] / cpu['bf16']:14.2f}", flush=True)


if __name__ == '__main__':
    main()

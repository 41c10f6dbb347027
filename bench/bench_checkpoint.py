"""Cost of the trainer's safety nets, measured in the same run: a checkpoint after every epoch, and the copy of the BN
statistics before every forward (so that a non-finite step can put them back).

python bench/bench_checkpoint.py [--space nb201|tiny|s1] [--epochs 4] [--steps 10] [--threads 2] [--repeats 3]
                                 [--device cpu]
Prints the time per epoch with a checkpoint after every epoch against no checkpoint at all (same supernet, sampler,
batches and run directory kind), and the median step time with the BN copy against the same step without it; each as a
ratio."""
import argparse, math, statistics, tempfile, time
from pathlib import Path
import torch
from mixpath_lab.data import Batches
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import mixpath_s1, nb201, tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Callback, Trainer, TrainConfig

class StepTimer(Callback):
    order = -100
    def __init__(self): self.times = []
    def before_step(self):
        if self.device.type == 'cuda': torch.cuda.synchronize()
        self.t0 = time.perf_counter()
    def after_step(self):
        if self.device.type == 'cuda': torch.cuda.synchronize()
        if self.step >= 2: self.times.append(time.perf_counter() - self.t0)

class NoCheckpoint(Callback):
    "Replaces the default `Checkpoint` callback (same name): no checkpoint at all."
    name = 'checkpoint'

def run(space, hw, bs, epochs, steps, device, ckpt: bool, keep: bool) -> tuple[float, float, int]:
    "(seconds per epoch, median step seconds, checkpoint bytes) of one fit."
    g = torch.Generator().manual_seed(0)
    n = bs * steps
    X = torch.randint(0, 256, (n, 3, hw, hw), dtype=torch.uint8, generator=g)
    Y = torch.randint(0, 10, (n,), generator=g)
    torch.manual_seed(0)
    sampler = 'spos' if all(p.m == 1 for p in space.points) else 'mixpath'
    timer, d = StepTimer(), Path(tempfile.mkdtemp())
    batches = Batches(X, Y, bs, seed=0, device=device)
    tr = Trainer(Supernet(space, 'sbn').to(device), make_sampler(sampler, space, 0), batches,
                 TrainConfig(epochs=epochs, batch_size=bs, log_every=5), run_dir=d,
                 callbacks=[timer] + ([] if ckpt else [NoCheckpoint()]), progress=False)
    if not keep: tr._keep_stats = lambda: None   # this trainer only: the step without the copy
    else: tr._keep_stats = timed(tr._keep_stats, COST['copy'])
    tr.save_checkpoint = timed(tr.save_checkpoint, COST['save'])
    t0 = time.perf_counter(); tr.fit(); t = time.perf_counter() - t0
    f = d/'checkpoints'/'last.pt'
    return t / epochs, statistics.median(timer.times), f.stat().st_size if f.exists() else 0

COST = {'copy': [], 'save': []}   # seconds of each BN copy and each checkpoint write, timed inside the runs

def timed(fn, out: list):
    def g(*a, **kw):
        t0 = time.perf_counter(); r = fn(*a, **kw); out.append(time.perf_counter() - t0); return r
    return g

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--space', default='nb201'); ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--steps', type=int, default=10); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3); ap.add_argument('--device', default='cpu')
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    space, hw, bs = {'nb201': (nb201(16, 1), 16, 64), 'tiny': (tiny(), 8, 64), 's1': (mixpath_s1(2), 32, 32)}[a.space]
    cases = {'plain (no checkpoint, no BN copy)': (False, False), 'checkpoint every epoch': (True, False),
             'BN copy every step': (False, True), 'both (the trainer as shipped)': (True, True)}
    best = {k: [math.inf, math.inf, 0] for k in cases}
    for _ in range(a.repeats):   # interleaved rounds; the fastest per case is the least disturbed by other load
        for k, (ckpt, keep) in cases.items():
            e, s, n = run(space, hw, bs, a.epochs, a.steps, a.device, ckpt, keep)
            best[k] = [min(best[k][0], e), min(best[k][1], s), n or best[k][2]]
    p = best['plain (no checkpoint, no BN copy)']
    print(f'{a.space} on {a.device}: {a.steps} steps of batch {bs} per epoch, best of {a.repeats} interleaved rounds')
    for k, (e, s, n) in best.items():
        print(f'{k:34s} epoch {1000 * e:8.1f} ms  x{e / p[0]:.3f}   step {1000 * s:7.2f} ms  x{s / p[1]:.3f}'
              + (f'   checkpoint {n / 1e6:.2f} MB' if n else ''))
    copy, save = statistics.median(COST['copy']), statistics.median(COST['save'])
    print(f'timed inside the runs (medians): BN copy {1e6 * copy:.0f} us per step = {100 * copy / p[1]:.2f}% of a step; '
          f'checkpoint write {1000 * save:.1f} ms per epoch = {100 * save / p[0]:.2f}% of an epoch')

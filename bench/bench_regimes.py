"""Per-step cost of the training regimes against plain supernet training, measured in the same run.

python bench/bench_regimes.py [--space nb201|tiny|s1] [--steps 30] [--threads 2] [--repeats 3]
Prints each regime's step time (median over steps, best of interleaved repeats) and its ratio to plain training (same supernet,
sampler, batches)."""
import argparse, math, statistics, time
import torch
from mixpath_lab.data import Batches
from mixpath_lab.regimes import make_regime
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import mixpath_s1, nb201, tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Callback, Trainer, TrainConfig

class StepTimer(Callback):
    order = -100
    def __init__(self, skip): self.skip, self.times = skip, []
    def before_step(self): self.t0 = time.perf_counter()
    def after_step(self):
        if self.step >= self.skip: self.times.append(time.perf_counter() - self.t0)

def run(space, regime, kw, steps, skip, hw, bs):
    g = torch.Generator().manual_seed(0)
    n = bs * (steps + skip)
    X, Y = torch.randint(0, 256, (n, 3, hw, hw), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)
    torch.manual_seed(0)
    sampler = 'spos' if all(p.m == 1 for p in space.points) else 'mixpath'
    timer = StepTimer(skip)
    Trainer(Supernet(space, 'sbn'), make_sampler(sampler, space, 0), Batches(X, Y, bs, seed=0),
            TrainConfig(epochs=1, batch_size=bs, log_every=10_000), callbacks=[timer, *make_regime(regime, **kw)], progress=False).fit()
    return statistics.median(timer.times)

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--space', default='nb201'); ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    space, hw, bs = {'nb201': (nb201(16, 1), 16, 64), 'tiny': (tiny(), 8, 64), 's1': (mixpath_s1(2), 32, 32)}[a.space]
    skip = 12   # the board fills (k=10) before timing starts
    cases = [('none', {}), ('cream', dict(warmup_steps=0, meta_every=0)), ('cream', dict(warmup_steps=0, meta_every=1)),
             ('pinas', dict(consistency='cosine')), ('pinas', dict(consistency='infonce', queue_size=1024))]
    best = [math.inf] * len(cases)
    for _ in range(a.repeats):   # interleaved rounds; the fastest median per case is the least disturbed by other load
        for i, (regime, kw) in enumerate(cases): best[i] = min(best[i], run(space, regime, kw, a.steps, skip, hw, bs))
    for (regime, kw), t in zip(cases, best):
        print(f'{a.space:6s} {regime:6s} {str(kw):60s} step {1000 * t:8.1f} ms   x{t / best[0]:.2f} of plain')

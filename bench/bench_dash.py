"""Slowdown of supernet training with the live dashboards attached (throttled), measured side by side.

  base : Trainer.fit() with the default callbacks (history record every 10 steps)
  dash : the same fit with Dashboard(TrainingDashboard(every=50), FeatureStatsDashboard(every=100),
         SBNDashboard(every=100)) as live FigureWidgets (the costly mode), nothing exported
Runs are interleaved (base, dash, base, dash, ...) and each side's median time is compared: process CPU time
(the ratio reported; one thread, so it is the work done and is not inflated by other jobs on a shared
machine) and wall time (printed too; noisy when the machine is shared). The fit
includes before_fit/after_fit, so the feature dashboard's first and last measurements count too.
The CPU time spent inside the dashboard's events is also summed (a direct measure of the slowdown, free of
the run-to-run noise of whole-fit timings). The RankingDashboard is left out: what it costs is the evaluation it is asked to run every N epochs.
Target: dash / base <= 1.05.  Run: .venv/bin/python bench/bench_dash.py [--steps 200] [--reps 5]
"""
import argparse, statistics, time
import torch
from mixpath_lab.data import Batches
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import nb201, tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import EVENTS, Trainer, TrainConfig
from mixpath_lab.dash import Dashboard, FeatureStatsDashboard, SBNDashboard, TrainingDashboard

torch.set_num_threads(1)  # shared machines: one thread gives stable ratios


def data(n, size, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)


class TimedDashboard(Dashboard):
    "The Dashboard, with the CPU time spent inside its events summed in `.spent`."
    spent = 0.0
def _timed(e):
    def f(self):
        c0 = time.process_time(); getattr(Dashboard, e)(self); self.spent += time.process_time() - c0
    return f
for _e in EVENTS: setattr(TimedDashboard, _e, _timed(_e))


def fit(space, sampler, size, bs, steps, with_dash):
    torch.manual_seed(0)
    x, y = data(bs * steps, size, 0)
    fx, fy = data(bs, size, 1)
    cbs = [TimedDashboard(TrainingDashboard(every=50, headless=False), FeatureStatsDashboard(Batches(fx, fy, bs, 1), every=100, headless=False),
                     SBNDashboard(every=100, headless=False))] if with_dash else []
    cfg = TrainConfig(epochs=1, batch_size=bs, lr=0.05, log_every=10)
    t = Trainer(Supernet(space, 'sbn'), make_sampler(sampler, space, 0), Batches(x, y, bs, 0), cfg, callbacks=cbs, progress=False)
    c0, t0 = time.process_time(), time.perf_counter(); t.fit()
    return time.process_time() - c0, time.perf_counter() - t0, cbs[0].spent if cbs else 0.0


def run(name, space, sampler, size, bs, steps, reps):
    fit(space, sampler, size, bs, 5, True)  # warm-up (imports, first FigureWidget)
    t = {'base': [], 'dash': []}
    for _ in range(reps):
        for k in t: t[k].append(fit(space, sampler, size, bs, steps, k == 'dash'))
    cpu = {k: statistics.median(x[0] for x in v) for k, v in t.items()}
    wall = {k: statistics.median(x[1] for x in v) for k, v in t.items()}
    share = statistics.median(x[2] / x[0] for x in t['dash'])
    r, rw = cpu['dash'] / cpu['base'], wall['dash'] / wall['base']
    print(f'{name}: {steps} steps, batch {bs} at {size}x{size}, {reps} interleaved repeats')
    print(f'  CPU time : base {steps / cpu["base"]:7.1f} steps/s | dash {steps / cpu["dash"]:7.1f} steps/s | dash/base x{r:.3f}')
    print(f'  wall time: base {steps / wall["base"]:7.1f} steps/s | dash {steps / wall["dash"]:7.1f} steps/s | dash/base x{rw:.3f}')
    print(f'  CPU time inside the dashboard callbacks: {100 * share:.2f}% of the fit (the slowdown they cause, without timing noise)')
    return r, share


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=200); ap.add_argument('--reps', type=int, default=3)
    a = ap.parse_args()
    (r1, s1) = run('tiny (overhead-heavy: a few ms per step)', tiny(), 'mixpath', 16, 32, a.steps, a.reps)
    (r2, s2) = run('NAS-Bench-201 cells C=8 N=1 (proxy-like)', nb201(C=8, N=1), 'spos', 16, 64, a.steps, a.reps)
    print(f'training CPU time with dashboards / without: tiny x{r1:.3f}, nb201 x{r2:.3f} (target <= 1.05); '
          f'time inside the dashboards: tiny {100 * s1:.2f}%, nb201 {100 * s2:.2f}% (target <= 5%)')

"""The main job's two supernets trained at once (arm_workers=2, one thread each) against in turn (2 threads), one run.

The same short main job (the QUICKSTART preset with fewer epochs, no free proxies) runs from a fresh directory with
`arm_workers=1` and with `arm_workers=2`, interleaved (1, 2, 1, 2, ...). Training steps per second of the two arms
together: in turn the training phase lasts the sum of the arms' training times, at once it lasts the longer of the
two; the whole run's wall time is compared too. Repetitions of one schedule must give the same Kendall tau (same config,
same numbers); the two schedules do not agree with each other, as 2 and 1 torch threads sum in different orders
and training grows that difference like a change of seed. On a machine shared with other jobs the figures are noisy:
the load average is printed beside them. The runs are written to a temporary directory, removed at the end.
Run: .venv/bin/python bench/bench_arm_workers.py [--epochs 5] [--reps 2] [--n-archs 50]
"""
import argparse, os, statistics, tempfile
from pathlib import Path
from mixpath_lab.experiment import RankingConfig
from mixpath_lab.presets import QUICKSTART
from mixpath_lab.run import run_ranking


def timed_runs(a, base: dict, tmp: Path, train_wall: dict, run_wall: dict, taus: dict):
    "Both schedules, interleaved, `a.reps` times; appends to the three dicts."
    for r in range(a.reps):
        for w in (1, 2):
            res = run_ranking(RankingConfig(**{**base, 'arm_workers': w}), tmp/f'w{w}-{r}', progress=False)
            t = res.summary['timings']
            train = [v['train_s'] for v in t.values()]
            train_wall[w].append(sum(train) if w == 1 else max(train)); run_wall[w].append(res.summary['seconds'])
            taus.setdefault(w, res.summary['kendall'])
            assert res.summary['kendall'] == taus[w], f'arm_workers={w} gave other numbers on repetition {r}'
            print(f'rep {r} arm_workers={w}: run {res.summary["seconds"]:.1f} s, train {train} s, '
                  f'eval {[v["eval_s"] for v in t.values()]} s; load average {os.getloadavg()[0]:.1f}', flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=5); ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--n-archs', type=int, default=50)
    a = ap.parse_args()
    base = {**QUICKSTART, 'epochs': a.epochs, 'n_archs': a.n_archs, 'free_proxies': (), 'hybrid_proxy': None,
            'n_boot': 200}
    train_wall, run_wall, taus = {1: [], 2: []}, {1: [], 2: []}, {}
    with tempfile.TemporaryDirectory() as d: timed_runs(a, base, Path(d), train_wall, run_wall, taus)
    t1, t2 = statistics.median(train_wall[1]), statistics.median(train_wall[2])
    r1, r2 = statistics.median(run_wall[1]), statistics.median(run_wall[2])
    print(f'{a.epochs} epochs, {a.n_archs} cells: training phase in turn {t1:.1f} s, at once {t2:.1f} s: '
          f'{t1 / t2:.2f}x training steps per second; run {r1:.1f} s vs {r2:.1f} s: {r1 / r2:.2f}x; '
          'each schedule the same tau on every repetition')
    for w in (1, 2): print(f'arm_workers={w} tau:', {n: round(k[0], 3) for n, k in taus[w].items()})


if __name__ == '__main__': main()

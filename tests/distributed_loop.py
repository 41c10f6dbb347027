"""Run the distributed (torchrun, 2 gloo ranks) tests N times in a row and count failures.

python tests/distributed_loop.py [--runs 20] [-- extra pytest args]
A flaky distributed test blocks every landing that meets it; this is the check that none is left. Each run is a fresh
pytest process over tests/test_ddp.py and the two-rank tests of tests/test_regimes.py. Exit status 1 if any run failed;
the failing runs' output tails are printed."""
import argparse, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ['tests/test_ddp.py', 'tests/test_regimes.py::test_two_ranks_agree', 'tests/test_regimes.py::test_two_ranks_resume']

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=20)
    ap.add_argument('pytest_args', nargs='*')
    a = ap.parse_args(argv)
    failed, t0 = [], time.time()
    for i in range(1, a.runs + 1):
        t = time.time()
        r = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *TESTS, *a.pytest_args],
                           cwd=ROOT, capture_output=True, text=True)
        last = (r.stdout.strip().splitlines() or ['(no output)'])[-1]
        print(f'run {i:2d}/{a.runs}: exit {r.returncode}  {last}  ({time.time() - t:.0f} s)', flush=True)
        if r.returncode: failed.append(i); print(r.stdout[-3000:], r.stderr[-2000:], sep='\n', flush=True)
    print(f'{a.runs - len(failed)} of {a.runs} runs passed in {time.time() - t0:.0f} s; failed runs: {failed or "none"}')
    return 1 if failed else 0

if __name__ == '__main__':
    sys.exit(main())

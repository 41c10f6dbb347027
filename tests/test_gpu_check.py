"The prepared GPU check runs on a CPU-only machine: GPU rows say they were skipped and why; --cpu-smoke runs every code path."
import os, subprocess, sys
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]

def run(*args):
    r = subprocess.run([sys.executable, str(ROOT/'bench'/'gpu_check.py'), *args], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout

@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device is present: the check really runs there')
def test_without_cuda_every_gpu_row_is_skipped_with_the_reason():
    out = run()
    rows = [l for l in out.splitlines() if l.startswith('  ')]
    assert len(rows) == 4 and all('skipped: no CUDA device' in l for l in rows), out

@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device is present: the check really runs there')
def test_cpu_smoke_runs_every_measurement():
    out = run('--cpu-smoke')
    for row in ('nb201 train (CPU smoke', 's1 train (CPU smoke', 'nb201 eval (CPU smoke'):
        line = next(l for l in out.splitlines() if row in l)
        fp32, bf16 = (float(line.split(k)[1].split()[0]) for k in ('fp32 ', 'bf16 '))
        assert fp32 > 0 and bf16 > 0, line
    assert 'long run' in out and 'skipped: needs a CUDA device' in out

"From-scratch ground truth across processes: concurrent writers, a killed batch resumed, and into rank_report."
import multiprocessing as mp, os, signal, subprocess, sys, textwrap
from pathlib import Path
import numpy as np, pytest, torch
from torch import nn
from mixpath_lab.groundtruth import GroundTruthTable, ScratchConfig, run_batch, run_config, config_hash
from mixpath_lab.ranking import rank_report

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

def _writer(path, worker, n):
    t = GroundTruthTable(path)
    for i in range(n): t.add(f'arch{worker}-{i}', {'seed': worker}, {'accuracy': worker + i / 100})

def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / 'gt.csv'
    ps = [mp.get_context('fork').Process(target=_writer, args=(path, w, 15)) for w in range(4)]
    for p in ps: p.start()
    for p in ps: p.join(60); assert p.exitcode == 0
    rows = GroundTruthTable(path).rows()
    assert len(rows) == 60
    assert rows[('arch3-7', config_hash({'seed': 3}))]['accuracy'] == 3.07
    assert not list(tmp_path.glob('.*.tmp'))

SCRIPT = '''
import os, signal, sys, torch
from torch import nn
torch.set_num_threads(1)
from mixpath_lab.groundtruth import GroundTruthTable, ScratchConfig, run_batch
g = torch.Generator().manual_seed(0)
data = {k: (torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g))
        for k, n in (('train', 128), ('val', 64))}
def model_fn(a):
    w = int(a[1:])
    return nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, 10))
def die(a, s, r):
    if os.environ.get('KILL_AFTER') == a: os.kill(os.getpid(), signal.SIGKILL)
acc = run_batch(['w4', 'w8', 'w16'], model_fn, data, ScratchConfig(epochs=2, batch_size=32), sys.argv[1], on_result=die, progress=False)
print(sorted(acc.items()))
'''

def test_killed_batch_resumes(tmp_path):
    "kill -9 right after the first run is stored: the table is intact and a rerun trains only the other two."
    script, path = tmp_path / 'batch.py', tmp_path / 'gt.csv'
    script.write_text(SCRIPT)
    env = {**os.environ, 'KILL_AFTER': 'w4', 'OMP_NUM_THREADS': '1', 'PYTHONPATH': f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    p = subprocess.run([sys.executable, str(script), str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    rows = GroundTruthTable(path).rows(); assert [a for a, _ in rows] == ['w4']
    first = next(iter(rows.values()))
    env['KILL_AFTER'] = ''
    p = subprocess.run([sys.executable, str(script), str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = GroundTruthTable(path).rows()
    assert sorted(a for a, _ in rows) == ['w16', 'w4', 'w8']
    assert rows[('w4', first['config_hash'])]['finished_at'] == first['finished_at']   # not retrained
    assert rows[('w16', first['config_hash'])]['n_params'] > rows[('w4', first['config_hash'])]['n_params']

def test_seeds_average_and_rank_report(tmp_path):
    "Two seeds per arch are two rows; run_batch returns their mean, which rank_report takes as truth."
    g = torch.Generator().manual_seed(1)
    data = {k: (torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g))
            for k, n in (('train', 64), ('val', 200))}
    fn = lambda a: nn.Sequential(nn.Flatten(), nn.Linear(192, int(a)), nn.ReLU(), nn.Linear(int(a), 10))
    cfg, table = ScratchConfig(epochs=1, batch_size=32), GroundTruthTable(tmp_path / 'gt.csv')
    archs = ['2', '4', '8', '16']
    acc = run_batch(archs, fn, data, cfg, table, seeds=(0, 1), progress=False)
    assert len(table) == 8
    for a in archs:
        accs = [table.get(a, run_config(cfg, data, s))['accuracy'] for s in (0, 1)]
        assert acc[a] == pytest.approx(np.mean(accs))
    rep = rank_report(acc, {a: float(a) for a in archs}, ks=(2,), n_boot=100)
    assert rep.n == 4 and -1 <= rep.metrics['kendall'][0] <= 1

"""Batch work on Ray: a 2-worker local cluster against the local backend (ground truth, sweep, CLI), a worker killed with
kill -9 mid-task, a rerun that does no work, and no Ray process left behind."""
from __future__ import annotations
import functools, json, os, shutil, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path
import pandas as pd
import pytest
import torch
ray = pytest.importorskip('ray', reason="Ray is an optional extra: pip install 'mixpath_lab[ray]'")
import nbformat, psutil
from conftest import ROOT, kernel_env
from mixpath_lab.batch import sweep
from mixpath_lab.benchmarks import NB201
from mixpath_lab.cli import _fresh_subnet, main
from mixpath_lab.data import cifar10_splits
from mixpath_lab.executor import RayExecutor, Task, init_ray
from mixpath_lab.groundtruth import GroundTruthTable, ScratchConfig, run_batch
from mixpath_lab.spaces import nb201
from mixpath_lab.supernet import Supernet

pytestmark = pytest.mark.timeout(400)
torch.set_num_threads(1)
SAME = ['arch_str', 'config_hash', 'seed', 'accuracy', 'val_loss', 'train_loss', 'train_acc', 'steps', 'n_params', 'diverged']
TINY = ['--C', '4', '--size', '8', '--n-train', '256', '--n-val', '128', '--batch-size', '64']


def _ray_processes(marker: str) -> list[psutil.Process]:
    "Live processes whose command line mentions `marker` (a Ray temp dir or session)."
    out = []
    for p in psutil.process_iter(['cmdline']):
        try:
            if marker in ' '.join(p.info['cmdline'] or []) and p.status() != psutil.STATUS_ZOMBIE: out.append(p)
        except psutil.Error: pass
    return out


@pytest.fixture(scope='module')
def cluster():
    """One 2-CPU local Ray cluster for the tests of this module (starting one takes tens of seconds here); its workers import
    this checkout; the finalizer shuts it down and checks that none of its processes (raylet, workers, kernels) is left."""
    saved = dict(os.environ)
    env = kernel_env(); env['PYTHONPATH'] = os.pathsep.join([str(ROOT/'tests'), env['PYTHONPATH']])   # workers unpickle test helpers
    os.environ.update(env)
    init_ray(attempts=4, num_cpus=2, include_dashboard=False, logging_level='WARNING')
    try: yield ray.get_runtime_context().gcs_address
    finally:
        procs = psutil.Process().children(recursive=True)
        ray.shutdown()
        os.environ.clear(); os.environ.update(saved)
        _, alive = psutil.wait_procs(procs, timeout=30)
        assert not alive, f'Ray left processes behind: {alive}'


@functools.lru_cache(maxsize=1)
def _batch():
    "4 NAS-Bench-201 cells trained from scratch, tiny: C=4, 8x8 images, 256 training images, 1 epoch."
    parts = cifar10_splits(None, {'train': 256, 'val': 128}, seed=0)
    sup = Supernet(nb201(C=4, N=1), norm='none')
    return (NB201().sample(0, 4, unique=True), functools.partial(_fresh_subnet, sup), {k: parts[k] for k in ('train', 'val')},
            ScratchConfig(epochs=1, batch_size=64, size=8))


@pytest.fixture(scope='module')
def local_table(tmp_path_factory) -> pd.DataFrame:
    "The reference: the same batch with the local backend (this process, one run after another)."
    archs, fn, data, cfg = _batch()
    path = tmp_path_factory.mktemp('local')/'gt.csv'
    run_batch(archs, fn, data, cfg, path, progress=False)
    return _table(path)


def _table(path) -> pd.DataFrame:
    "The CSV as written (duplicates would show), sorted, with the columns that must not depend on the backend."
    df = pd.read_csv(path)
    assert not df.duplicated(['arch_str', 'config_hash']).any(), f'duplicated rows in {path}'
    return df[SAME].sort_values('arch_str').reset_index(drop=True)


def _cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', *args], capture_output=True, text=True, timeout=timeout,
                          env=env or kernel_env(), cwd=ROOT)


def test_cli_own_cluster_leaves_nothing(tmp_path):
    "Without --address the command starts a local cluster for the batch and shuts it down: no Ray process outlives it."
    tmp = tempfile.mkdtemp(prefix='mpray')   # Ray's sockets live here; a short path (unix socket names are limited)
    try:
        p = _cli('groundtruth', '--archs', '2', *TINY, '--out', str(tmp_path/'gt.csv'), '-q', '--backend', 'ray', '--workers', '2',
                 env=kernel_env(RAY_TMPDIR=tmp))
        assert p.returncode == 0, p.stderr
        assert 'ray: 2 tasks on' in p.stdout and len(GroundTruthTable(tmp_path/'gt.csv')) == 2
        time.sleep(1)
        assert not _ray_processes(tmp), _ray_processes(tmp)
    finally:
        for proc in _ray_processes(tmp): proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def test_without_ray_says_how_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, 'ray', None)   # as if Ray were not installed
    assert main(['groundtruth', '--archs', '2', *TINY, '--out', str(tmp_path/'gt.csv'), '--backend', 'ray']) == 2
    err = capsys.readouterr().err
    assert "pip install 'mixpath_lab[ray]'" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path/'gt.csv').exists()


def test_ray_task_threads_and_errors(cluster):
    "A task runs in a Ray worker with exactly cpus_per_task torch threads; an exception in a task is raised here."
    ex = RayExecutor(workers=2, cpus_per_task=1)
    assert ex.run([Task('threads', torch.get_num_threads)], progress=False) == [1]
    assert ex.records[0]['pid'] != os.getpid()
    with pytest.raises(ValueError, match='invalid literal'):   # a task's own exception comes back as itself, not retried
        ex.run([Task('bad', int, ('x',)), Task('ok', abs, (-2,))], progress=False)


def test_groundtruth_batch_matches_local_and_rerun_does_nothing(cluster, local_table, tmp_path):
    archs, fn, data, cfg = _batch()
    ex = RayExecutor(workers=2)
    acc = run_batch(archs, fn, data, cfg, tmp_path/'gt.csv', progress=False, executor=ex)
    pd.testing.assert_frame_equal(_table(tmp_path/'gt.csv'), local_table)          # bit for bit: same numbers on CPU
    assert sorted(acc) == sorted(archs) and all(acc[a] == local_table.set_index('arch_str').accuracy[a] for a in archs)
    s = ex.summary()
    assert s.tasks.sum() == 4 and os.getpid() not in set(s.pid), s
    finished = pd.read_csv(tmp_path/'gt.csv').finished_at.tolist()
    assert run_batch(archs, fn, data, cfg, tmp_path/'gt.csv', progress=False, executor=ex) == acc
    assert ex.records == [] and ex.report() == 'ray: no tasks to run (all done already)'
    assert pd.read_csv(tmp_path/'gt.csv').finished_at.tolist() == finished


class BlockOnce:
    "A model builder that, the first time it is asked for `arch`, writes its process id to `marker` and waits to be killed."
    def __init__(self, fn, arch: str, marker: str): self.fn, self.arch, self.marker = fn, arch, Path(marker)
    def __call__(self, a):
        if a == self.arch and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            time.sleep(300)   # the test kills this process meanwhile
        return self.fn(a)


def test_worker_killed_mid_task(cluster, local_table, tmp_path):
    "kill -9 of the worker process training one cell: Ray retries it; the table ends complete, nothing lost or duplicated."
    archs, fn, data, cfg = _batch()
    marker, killed = tmp_path/'victim.pid', []
    def killer():
        t0 = time.time()
        while not (marker.exists() and marker.read_text()) and time.time() - t0 < 200: time.sleep(0.1)
        if marker.exists(): pid = int(marker.read_text()); os.kill(pid, signal.SIGKILL); killed.append(pid)
    th = threading.Thread(target=killer, daemon=True); th.start()
    ex = RayExecutor(workers=2)
    run_batch(archs, BlockOnce(fn, archs[1], str(marker)), data, cfg, tmp_path/'gt.csv', progress=False, executor=ex)
    th.join(5)
    assert killed, 'the worker was never killed'
    pd.testing.assert_frame_equal(_table(tmp_path/'gt.csv'), local_table)
    victim = next(r for r in ex.records if r['key'].startswith(archs[1]))
    assert victim['pid'] != killed[0] and not psutil.pid_exists(killed[0])   # finished by another worker process


def _tiny_nb(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("a = 1.0\nseed = 0\nsmoke = False\nrun_dir = 'out'", metadata={'tags': ['parameters']}),
                nbformat.v4.new_code_cell(
                    "import json, pathlib, torch\ntorch.manual_seed(seed)\nw = torch.randn(64, 64)\n"
                    "for _ in range(20): w = torch.tanh(w @ w.T * a / 64)\n"
                    "d = pathlib.Path(run_dir); d.mkdir(parents=True, exist_ok=True)\n"
                    "json.dump({'score': float(w.sum()), 'threads': torch.get_num_threads(), 'seconds': 0.0}, open(d/'summary.json', 'w'))")]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, path); return path


def test_sweep_matches_local_and_rerun_does_nothing(cluster, tmp_path, monkeypatch):
    for k, v in kernel_env().items(): monkeypatch.setenv(k, v)
    nb, grid = _tiny_nb(tmp_path/'tiny.ipynb'), {'a': [0.5, 2.0]}
    local = sweep(nb, grid, tmp_path/'local', progress=False)
    ex = RayExecutor(workers=2)
    df = sweep(nb, grid, tmp_path/'ray', progress=False, executor=ex)
    cols = ['status', 'a', 'score', 'threads']
    pd.testing.assert_frame_equal(df[cols], local[cols])
    assert (df.status == 'ok').all() and (df.threads == 1).all() and len(ex.records) == 2
    assert pd.read_csv(tmp_path/'ray'/'summary.csv')[cols[:3]].equals(local[cols[:3]])
    mtimes = sorted(p.stat().st_mtime_ns for p in (tmp_path/'ray').glob('*/notebook.ipynb'))
    again = sweep(nb, grid, tmp_path/'ray', progress=False, executor=ex)
    assert ex.records == [] and again[cols].equals(df[cols])
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path/'ray').glob('*/notebook.ipynb')) == mtimes


def test_cli_groundtruth_joins_cluster(cluster, local_table, tmp_path):
    "`mixpath-lab groundtruth --backend ray --address` on the running cluster: the local backend's table; a rerun trains nothing."
    args = ['groundtruth', '--archs', '4', *TINY, '--epochs', '1', '--out', str(tmp_path/'ray.csv'), '-q', '--backend', 'ray',
            '--address', cluster]
    p = _cli(*args, '--workers', '2')
    assert p.returncode == 0, p.stderr
    assert 'ray: 4 tasks on' in p.stdout and 'host' in p.stdout and 'pid' in p.stdout, p.stdout
    pd.testing.assert_frame_equal(_table(tmp_path/'ray.csv'), local_table)   # the same batch as run_batch's, local
    p2 = _cli(*args)
    assert p2.returncode == 0 and 'ray: no tasks to run' in p2.stdout, p2.stdout + p2.stderr

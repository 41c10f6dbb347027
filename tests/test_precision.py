"""The precision setting end to end: a bf16 ranking run trains and ranks the same on every run and records its
precision; the same directory at another precision is refused in one line; fp16 without CUDA is refused before
anything is written; `groundtruth --precision` keys its rows apart from fp32 ones; papermill passes the parameter on."""
from __future__ import annotations
import contextlib, io, json, shutil
import pytest, torch
from conftest import RUNS
from mixpath_lab.cli import main
from mixpath_lab.core import MixpathError

pytestmark = pytest.mark.timeout(300)
TOY = dict(n_train=512, n_recal=256, n_val=256, batch_size=128, n_archs=8, epochs=1, steps_per_epoch=2,
           n_recal_batches=1, n_boot=50, C=8, norms=('sbn',))   # nbs/runs/ranking.ipynb's smoke config with norms='sbn'
TINY = ['--C', '4', '--size', '8', '--n-train', '256', '--n-val', '128', '--batch-size', '64', '-q']
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason='fp16 is refused only where CUDA is missing')


def cli(*argv) -> tuple[int, str]:
    "Exit status and stderr of `mixpath-lab argv...`."
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([str(a) for a in argv])   # an exception escaping main fails the test: that is a traceback
    return rc, err.getvalue()


def toy_set(**over) -> list[str]:
    d = {**{k: v for k, v in TOY.items() if k != 'norms'}, 'norms': "['sbn']", **over}
    return [a for k, v in d.items() for a in ('--set', f'{k}={v}')]


@pytest.fixture(scope='module')
def bf16_runs(tmp_path_factory):
    "The same toy ranking run at bf16 twice: here, and headless through papermill (its `precision` parameter)."
    from mixpath_lab.batch import run_notebook
    from mixpath_lab.experiment import RankingConfig, run_ranking
    from conftest import kernel_env
    base = tmp_path_factory.mktemp('prec')
    run_ranking(RankingConfig(**TOY, precision='bf16'), base/'a', progress=False)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in kernel_env().items(): mp.setenv(k, v)
        run_notebook(RUNS/'ranking.ipynb', base/'b', {'smoke': True, 'precision': 'bf16', 'norms': 'sbn'}, timeout=240)
    return base


def _ckpt(d):
    return torch.load(d/'train_sbn'/'checkpoints'/'last.pt', map_location='cpu', weights_only=True)


def test_bf16_run_is_recorded_and_deterministic(bf16_runs):
    a, b = (_ckpt(bf16_runs/n) for n in ('a', 'b'))
    assert a['meta']['train']['precision'] == 'bf16'
    ca, cb = (json.loads((bf16_runs/n/'config.json').read_text()) for n in ('a', 'b'))
    assert ca['precision'] == 'bf16' and ca == cb
    assert all(torch.equal(v, b['model'][k]) for k, v in a['model'].items())      # same seed, same numbers
    assert (bf16_runs/'a'/'cells.csv').read_text() == (bf16_runs/'b'/'cells.csv').read_text()


def test_other_precision_on_the_same_directory_is_refused(bf16_runs, tmp_path):
    d = tmp_path/'run'; shutil.copytree(bf16_runs/'a', d)
    rc, err = cli('rank', *toy_set(precision='fp32'), '--out', d)
    assert rc == 2 and "precision='bf16' there, 'fp32' now" in err and err.count('\n') == 1, err
    (d/'config.json').unlink()   # the supernet's own record still refuses it
    rc, err = cli('rank', *toy_set(precision='fp32'), '--out', d)
    assert rc == 2 and 'precision' in err and "'bf16'" in err and err.count('\n') == 1, err
    assert not (d/'config.json').exists()


@no_cuda
def test_fp16_without_cuda_is_refused_before_anything_is_written(tmp_path):
    rc, err = cli('rank', *toy_set(precision='fp16'), '--out', tmp_path/'run')
    assert rc == 2 and "precision='fp16' needs CUDA" in err and err.count('\n') == 1, err
    assert not (tmp_path/'run').exists()
    from mixpath_lab.experiment import RankingConfig
    with pytest.raises(MixpathError, match="TrainConfig.precision must be one of 'fp32', 'bf16', 'fp16', got 'bf32'"):
        RankingConfig(precision='bf32')


def test_groundtruth_precision_flag(tmp_path):
    gt = tmp_path/'gt.csv'
    import pandas as pd
    assert cli('groundtruth', '--archs', '2', *TINY, '--out', gt, '--precision', 'bf16')[0] == 0
    rows = pd.read_csv(gt)
    assert len(rows) == 2 and all(json.loads(c)['precision'] == 'bf16' for c in rows.config)
    assert cli('groundtruth', '--archs', '2', *TINY, '--out', gt, '--precision', 'bf16')[0] == 0   # resumed
    assert len(pd.read_csv(gt)) == 2
    assert cli('groundtruth', '--archs', '2', *TINY, '--out', gt)[0] == 0                          # fp32: its own rows
    rows = pd.read_csv(gt)
    assert len(rows) == 4
    assert sorted(json.loads(c).get('precision', 'fp32') for c in rows.config) == ['bf16', 'bf16', 'fp32', 'fp32']
    assert sum('precision' in json.loads(c) for c in rows.config) == 2   # fp32 rows keep the keys of older tables
    if not torch.cuda.is_available():
        rc, err = cli('groundtruth', '--archs', '2', *TINY, '--out', tmp_path/'gt16.csv', '--precision', 'fp16')
        assert rc == 2 and "precision='fp16' needs CUDA" in err and not (tmp_path/'gt16.csv').exists(), err


"""A careless or hostile user's config mistakes, replayed: each gets a clear one-line error (or the right behaviour), never a
traceback, a silent acceptance or a run that reuses results made under other settings."""
from __future__ import annotations
import contextlib, io, json, time
from pathlib import Path
import nbformat, pandas as pd
import pytest
from conftest import RUNS
from mixpath_lab.cli import main
from mixpath_lab.core import MixpathError

pytestmark = pytest.mark.timeout(300)
TOY = dict(n_train=512, n_recal=256, n_val=256, batch_size=128, n_archs=6, epochs=1, steps_per_epoch=2, n_recal_batches=1,
           n_boot=50, C=8, norms=('sbn',))


def toy_set(**over) -> list[str]:
    "`--set` arguments of the toy config, with `over` replacing or adding settings (values as typed on a command line)."
    d = {**{k: v for k, v in TOY.items() if k != 'norms'}, 'norms': "['sbn']", **over}
    return [a for k, v in d.items() for a in ('--set', f'{k}={v}')]


def cli(*argv) -> tuple[int, str]:
    "Exit status and stderr of `mixpath-lab argv...` (an exception escaping main fails the test: that is a traceback)."
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = f'SystemExit({e.code})'   # argparse's own exit: no hint, not our one-line error
    return rc, err.getvalue()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A toy ranking run (one SBN supernet, two steps) to misuse."
    from mixpath_lab.experiment import RankingConfig, run_ranking
    d = tmp_path_factory.mktemp('hostile')/'run'
    run_ranking(RankingConfig(**TOY), d, progress=False)
    return d


@pytest.fixture
def demo_nb(tmp_path):
    "A notebook that runs in a second: parameters steps, smoke, run_dir; writes summary.json with the steps it ran."
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("steps = 3\nsmoke = False\nrun_dir = 'out'", metadata={'tags': ['parameters']}),
                nbformat.v4.new_code_cell("import json, pathlib\nd = pathlib.Path(run_dir); d.mkdir(parents=True, exist_ok=True)\n"
                                          "json.dump({'score': steps}, open(d/'summary.json', 'w'))")]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    p = tmp_path/'demo.ipynb'; nbformat.write(nb, p); return p


# --- a changed setting on an existing run directory: refused naming it, --fresh starts over without deleting ------------

def test_deleted_config_does_not_reuse_supernets_of_other_data(trained, tmp_path):
    "Deleting config.json (as the old message advised) and lowering n_train must not rank with the supernet trained on more."
    import shutil
    d = tmp_path/'run'; shutil.copytree(trained, d); (d/'config.json').unlink()
    for k, v in (('n_train', 384), ('n_val', 128), ('data_root', str(tmp_path))):
        rc, err = cli('rank', *toy_set(**{k: repr(v) if isinstance(v, str) else v}), '--out', d)
        assert rc == 2 and f'{k}=' in err and 'there' in err and '--fresh' in err, err
        assert err.count('\n') == 1 and not (d/'config.json').exists()          # one line; nothing written


def test_changed_setting_is_named_and_fresh_offered(trained, tmp_path):
    import shutil
    d = tmp_path/'run'; shutil.copytree(trained, d)
    rc, err = cli('rank', *toy_set(n_train=384), '--out', d)
    assert rc == 2 and 'n_train=512 there, 384 now' in err and 'rerun with --fresh' in err, err


def test_fresh_moves_the_old_run_aside(trained, tmp_path):
    from mixpath_lab.experiment import RankingConfig, run_ranking
    import shutil
    d = tmp_path/'run'; shutil.copytree(trained, d)
    res = run_ranking(RankingConfig(**{**TOY, 'n_train': 384}), d, progress=False, fresh=True)
    old = [p for p in tmp_path.iterdir() if p.name.startswith('run.old-')]
    assert len(old) == 1 and (old[0]/'train_sbn'/'checkpoints'/'last.pt').exists() and (old[0]/'rank_sbn.json').exists()
    assert json.loads((d/'rank_sbn.json').read_text())['config']['settings']['n_train'] == 384
    assert res['summary']['config']['n_train'] == 384


def test_search_under_a_new_limit_does_not_resume_the_old_state(tmp_path):
    "After config.json is deleted, a search with another cost limit must not report the old results under the new limit."
    from mixpath_lab.search import RandomSearch
    from mixpath_lab.spaces import nb201
    acc, cost = (lambda a: float(sum(c.paths[0] for c in a))), (lambda a: float(sum(c.paths[0] == 3 for c in a)))
    RandomSearch(nb201(), acc, cost, pop_size=5, budget=20, run_dir=tmp_path/'s', progress=False).run(2)
    (tmp_path/'s'/'config.json').unlink()
    with pytest.raises(MixpathError, match=r'other settings \(cost_limit=None there, 1 now\); rerun with --fresh'):
        RandomSearch(nb201(), acc, cost, cost_limit=1, pop_size=5, budget=20, run_dir=tmp_path/'s', progress=False)
    s = RandomSearch(nb201(), acc, cost, cost_limit=1, pop_size=5, budget=20, run_dir=tmp_path/'s', progress=False, fresh=True)
    assert s.n_evals == 0 and [p for p in tmp_path.iterdir() if p.name.startswith('s.old-')]


def test_impossible_constraint_refused_up_front(trained, tmp_path):
    "--mflops 0.0001: refused before any search work, naming the cheapest and the most expensive reachable MFLOPs."
    t0 = time.time()
    rc, err = cli('search', trained, '--mflops', '0.0001', '--budget', '8', '--pop', '4', '--generations', '2', '-q',
                  '--out', tmp_path/'s')
    assert rc == 2 and 'below the cheapest arch of nb201 (cost 7.783)' in err and 'and 220.1 (the most expensive' in err, err
    assert not (tmp_path/'s').exists()
    print(f'refused in {time.time() - t0:.1f} s')


# --- typed configs, checked before anything is written ------------------------------------------------------------------

@pytest.mark.parametrize('setting, msg', [
    ('epochs=abc', "RankingConfig.epochs must be an integer, got 'abc' (str); e.g. epochs=60"),
    ('epochs=1.5', 'RankingConfig.epochs must be an integer, got 1.5'),
    ('lr=abc', "RankingConfig.lr must be a finite number, got 'abc'"),
    ('threads=-1', 'RankingConfig.threads must be >= 1 or None, got -1'),
    ('n_boot=abc', "RankingConfig.n_boot must be an integer, got 'abc'"),
    ('inherited=maybe', "RankingConfig.inherited must be True or False, got 'maybe'"),
])
def test_bad_ranking_setting_is_one_line_and_writes_nothing(setting, msg, tmp_path):
    k, _, v = setting.partition('=')
    rc, err = cli('rank', *toy_set(**{k: v}), '--out', tmp_path/'r')
    assert rc == 2 and msg in err and err.count('\n') == 1, err
    assert not (tmp_path/'r').exists()                # so the corrected command is not refused afterwards


def test_norms_as_one_string_is_not_split_into_letters():
    from mixpath_lab.experiment import RankingConfig
    assert RankingConfig.from_dict({'norms': 'sbn'}).norms == ('sbn',)
    assert RankingConfig.from_dict({'norms': 'sbn,bn'}).norms == ('sbn', 'bn')


def test_duplicated_arms_refused():
    from mixpath_lab.experiment import RankingConfig
    with pytest.raises(MixpathError, match=r"names one arm twice \('sbn' and 'sbn'\)"): RankingConfig(norms=('sbn', 'sbn '))


def test_train_config_typed():
    from mixpath_lab.train import TrainConfig
    with pytest.raises(MixpathError, match=r"TrainConfig.epochs must be an integer, got 'abc' \(str\); e.g. epochs=200"):
        TrainConfig(epochs='abc')


def test_search_settings_typed():
    from mixpath_lab.search import RandomSearch
    from mixpath_lab.spaces import nb201
    with pytest.raises(MixpathError, match='budget must be an integer >= 1, got 1.5'):
        RandomSearch(nb201(), lambda a: 1.0, budget=1.5, progress=False)


# --- the command line ---------------------------------------------------------------------------------------------------

def test_run_on_a_file_that_is_not_a_notebook(tmp_path):
    (tmp_path/'notes.md').write_text('# notes')
    rc, err = cli('run', tmp_path/'notes.md', '--out', tmp_path/'o')
    assert rc == 2 and 'notes.md is not a Jupyter notebook' in err and err.count('\n') == 1, err


def test_value_split_from_its_name_gets_the_fix(tmp_path):
    rc, err = cli('run', RUNS/'ranking.ipynb', '-p', 'smoke', 'True', '--out', tmp_path/'o')
    assert rc == 2 and "e.g. smoke=True" in err and err.count('\n') == 1, err


# --- silent acceptances -------------------------------------------------------------------------------------------------

def test_duplicated_sweep_axis_refused(demo_nb, tmp_path):
    rc, err = cli('sweep', demo_nb, '-g', 'steps=1', '-g', 'steps=2', '-q', '--out', tmp_path/'sw')
    assert rc == 2 and "grid axis 'steps' is given twice" in err, err
    assert not (tmp_path/'sw').exists()


def test_run_dir_parameter_refused(demo_nb, tmp_path):
    rc, err = cli('run', demo_nb, '-p', f'run_dir={tmp_path/"elsewhere"}', '-q', '--out', tmp_path/'o')
    assert rc == 2 and 'run_dir is chosen by run and sweep' in err, err


def test_second_sweep_does_not_overwrite_summary(demo_nb, tmp_path):
    from mixpath_lab.batch import sweep
    sweep(demo_nb, {'steps': [1, 2]}, tmp_path/'sw', progress=False)
    with pytest.raises(MixpathError, match='different config .*grid.steps.*rerun with --fresh'):
        sweep(demo_nb, {'steps': [5]}, tmp_path/'sw', progress=False)
    assert list(pd.read_csv(tmp_path/'sw'/'summary.csv').steps) == [1, 2]


def test_smoke_sweep_summary_records_the_epochs_run(tmp_path, kernel_environ):
    from mixpath_lab.batch import sweep
    df = sweep(RUNS/'ranking.ipynb', {'seed': [0]}, tmp_path/'sw', fixed={'smoke': True, 'norms': 'sbn'}, progress=False)
    table = pd.read_csv(tmp_path/'sw'/'summary.csv')
    assert list(df.status) == ['ok'] and list(table.epochs) == [1] and list(table.n_archs) == [8]   # smoke sizes, not 40 / 100


def test_op_names_with_separators_refused():
    from mixpath_lab.spaces import ChoicePoint
    for bad in ('a|b', 'a+b'):
        with pytest.raises(MixpathError, match=f"op name '{bad[0]}\\{bad[1]}{bad[2]}' must be a string without"):
            ChoicePoint('l', (bad, 'c'))


def test_float_path_index_refused():
    from mixpath_lab.spaces import Arch
    with pytest.raises(MixpathError, match='arch indices must be integers, got 1.7'): Arch([(0, (1.7,))])

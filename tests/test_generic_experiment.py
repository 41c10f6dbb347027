"A ranking run of a space other than NAS-Bench-201 through the command line: rank --space tiny --truth x.csv, search."
import json, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from mixpath_lab.cli import main
from mixpath_lab.spaces import tiny

ROOT = Path(__file__).resolve().parents[1]
TOY = ['--set', 'n_train=512', '--set', 'n_recal=256', '--set', 'n_val=256', '--set', 'batch_size=128',
       '--set', 'n_archs=8', '--set', 'epochs=1', '--set', 'steps_per_epoch=2', '--set', 'n_recal_batches=1',
       '--set', 'n_boot=50',
       '--set', 'sampler=mixpath', '--set', "norms=['sbn']", '--set', "free_proxies=['synflow']"]

@pytest.fixture
def truth_csv(tmp_path) -> Path:
    "30 archs of `tiny` with made-up accuracies that grow with the active paths (a plumbing check, not a benchmark)."
    sp = tiny(); every = [sp.encode(a) for a in sp.enumerate()]
    archs = [every[i] for i in np.random.default_rng(1).choice(len(every), 30, replace=False)]
    acc = [50 + 4 * sum(sp.decode(a).ks) + 0.1 * i for i, a in enumerate(archs)]
    f = tmp_path/'x.csv'; pd.DataFrame({'arch': archs, 'accuracy': acc}).to_csv(f, index=False); return f

def cli(*args) -> str:
    r = subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', *map(str, args)], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=600)
    assert r.returncode == 0, f'mixpath-lab {" ".join(map(str, args))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r.stdout

def test_rank_tiny_then_search(tmp_path, truth_csv, capsys):
    run = tmp_path/'rank'
    out = cli('rank', '--space', 'tiny', '--truth', truth_csv, '-q', '--out', run, *TOY)
    assert 'Rank correlation with x.csv' in out and 'synflow' in out
    cfg = json.loads((run/'config.json').read_text())
    assert (cfg['space'], cfg['truth']) == ('tiny', str(truth_csv.resolve()))
    cells = pd.read_csv(run/'cells.csv'); truth = pd.read_csv(truth_csv).set_index('arch').accuracy
    assert len(cells) == 8 and cells.arch.is_unique and (cells.truth.to_numpy() == truth[cells.arch].to_numpy()).all()
    assert json.loads((run/'summary.json').read_text())['benchmark'] == 'x.csv' and (run/'report.html').exists()
    search = ['search', str(run), '-q', '--method', 'random', '--budget', '6', '--pop', '3', '--generations', '2']
    assert main(search) == 0
    out = capsys.readouterr().out   # the same command line, in this process (one interpreter start less)
    assert 'Pareto front (supernet accuracy vs MFLOPs at 16x16)' in out and 'train-subnet' in out
    blob = torch.load(run/'search-random-sbn'/'best_subnet.pt', weights_only=True)
    assert blob['supernet']['space']['name'] == 'tiny_m2' and tiny().contains(blob['arch'])
    if blob['arch'] in set(truth.index):   # the table holds a few archs: the best has a percentile, or is said not to
        assert blob['note']['truth_acc'] == truth[blob['arch']] and 0 < blob['note']['truth_percentile'] <= 100
    else: assert 'not in the truth table' in out and 'truth_acc' not in blob['note']

def _rank_error(capsys, *args) -> str:
    assert main(['rank', '-q', *map(str, args)]) == 2
    return capsys.readouterr().err

def test_rank_errors(tmp_path, truth_csv, capsys):
    out = tmp_path/'never'
    builtin = 'nb201, mixpath_s1, tiny, nb101, mixpath_bench'
    assert f"space='tinyy' is neither a built-in space ({builtin}) nor 'module:function'" in \
        _rank_error(capsys, '--space', 'tinyy', '--truth', truth_csv, '--out', out)
    assert 'cannot import no_such_module' in \
        _rank_error(capsys, '--space', 'no_such_module:f', '--truth', truth_csv, '--out', out)
    assert 'mixpath_lab.spaces has no function nope' in \
        _rank_error(capsys, '--space', 'mixpath_lab.spaces:nope', '--truth', truth_csv, '--out', out)
    assert 'returned Arch, not a space with a supernet' in \
        _rank_error(capsys, '--space', 'mixpath_lab.spaces:Arch', '--truth', truth_csv, '--out', out)
    assert "space='tiny' has no built-in ground truth; pass truth=FILE" in \
        _rank_error(capsys, '--space', 'tiny', '--out', out)
    assert 'no such file' in _rank_error(capsys, '--space', 'tiny', '--truth', tmp_path/'none.csv', '--out', out)
    err = _rank_error(capsys, '--space', 'tiny', '--truth', truth_csv, '--set', 'n_archs=31', '--out', out)
    assert 'n_archs=31, but x.csv holds 30 distinct archs' in err and 'Traceback' not in err
    assert not out.exists()   # every mistake refused before anything is written

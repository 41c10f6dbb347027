"The proxy ceiling and the lever study from the command line: a table made by `proxy-truth` shows up as a row and a gap table in `rank`; `levers` writes its table, curves and figure, and a rerun trains nothing."
import subprocess, sys
from pathlib import Path

from test_workflow import TOY, cli, ROOT

def test_proxy_truth_then_rank_shows_the_ceiling(tmp_path):
    tab = tmp_path/'pt.csv'
    out = cli('proxy-truth', '-q', '--out', tab, '--epochs', 1, *TOY)
    assert '6 cells x 1 seed(s), 1 epochs each' in out and tab.exists()
    assert 'no tasks to run' in cli('proxy-truth', '-q', '--out', tab, '--epochs', 1, *TOY)   # resumable: nothing left
    run = tmp_path/'rank'   # proxy-truth starts from the quickstart preset, whose images are the full copy
    out = cli('rank', '-q', '--out', run, *TOY, '--data', 'full', '--set', f'proxy_truth={tab}',
              '--set', 'proxy_truth_epochs=1')
    assert 'The proxy ceiling' in out and 'proxy standalone' in out and 'vs proxy standalone' in out
    assert (run/'gaps.csv').exists() and 'The proxy ceiling' in (run/'report.html').read_text()
    # a table made on other images is no ceiling for this run; a missing named table is a clear error
    out = cli('rank', '-q', '--out', tmp_path/'rank2', *TOY, '--set', f'proxy_truth={tab}', '--set', 'proxy_truth_epochs=1')
    assert 'The proxy ceiling' not in out
    r = subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', 'rank', '-q', '--out', str(tmp_path/'rank3'), *TOY,
                        '--set', f'proxy_truth={tmp_path/"none.csv"}'], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and 'no such file' in r.stderr and 'Traceback' not in r.stderr

def test_levers_command(tmp_path):
    out_dir = tmp_path/'lv'
    args = ('levers', '-q', '--out', out_dir, '--levers', 'weight decay:wd=0,bn mode', '--seeds', 0, 1, '--track', '2',
            '--set', 'C=4', '--set', 'n_train=1024', '--set', 'n_archs=6', '--set', 'epochs=2', '--set', 'n_boot=50',
            '--set', 'proxy_batch=16', '--set', 'proxy_truth=None')
    out = cli(*args)
    assert '| weight decay | wd=0 | 2 |' in out and '| bn mode | batch statistics | 2 |' in out
    for f in ('levers.md', 'levers.html', 'curves.csv', 'eval_levers.csv', 'runs.csv'): assert (out_dir/f).exists(), f
    assert sorted(p.parent.name for p in out_dir.glob('*/seed0')) == ['base', 'weight_decay=0.0']
    hist = {p: p.read_text() for p in out_dir.glob('*/seed*/train_sbn/history.jsonl')}
    assert len(hist) == 4 and '| bn mode | batch statistics | 2 |' in cli(*args)     # a rerun prints the table ...
    assert {p: p.read_text() for p in hist} == hist                                 # ... and trains nothing
    r = subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', 'levers', '--out', str(tmp_path/'x'), '--levers', 'warmth'],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "unknown lever 'warmth'" in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', 'levers', '--out', str(tmp_path/'x'), '--track', 'a,b'],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and 'give epochs as integers' in r.stderr and 'Traceback' not in r.stderr

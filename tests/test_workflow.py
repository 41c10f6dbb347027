"The command line end to end, as a user runs it: rank -> search (and resume) -> export -> train from scratch."
import json, subprocess, sys
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
TOY = ['--set', 'n_train=512', '--set', 'n_recal=256', '--set', 'n_val=256', '--set', 'batch_size=128', '--set', 'n_archs=6',
       '--set', 'epochs=1', '--set', 'steps_per_epoch=2', '--set', 'n_recal_batches=1', '--set', 'n_boot=50', '--set', 'C=8']

def cli(*args):
    r = subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'}, timeout=600)
    assert r.returncode == 0, f'mixpath-lab {" ".join(map(str, args))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r.stdout

def test_rank_search_export_train(tmp_path):
    run = tmp_path/'rank'
    out = cli('rank', '-q', '--out', run, *TOY)
    assert 'Rank correlation with NAS-Bench-201' in out and 'params' in out
    assert json.loads((run/'summary.json').read_text())['n_cells'] == 6 and (run/'report.html').exists()
    args = ('search', run, '-q', '--mflops', 60, '--budget', 12, '--pop', 4, '--generations', 3)
    out = cli(*args)
    assert 'Pareto front' in out and 'NAS-Bench-201 CIFAR-10 (200 epochs)' in out and 'train-subnet' in out
    hist = (run/'search-nsga2-sbn'/'history.jsonl').read_text()
    assert cli(*args).count('\n') == out.count('\n') and (run/'search-nsga2-sbn'/'history.jsonl').read_text() == hist  # resumed, not redone
    f = run/'search-nsga2-sbn'/'best_subnet.pt'
    blob = torch.load(f, weights_only=True)
    assert blob['note']['mflops'] <= 60 and 0 < blob['note']['nb201_percentile'] <= 100
    out = cli('train-subnet', f, '--epochs', 1, '--size', 8, '-q')
    assert '"acc"' in out or '"accuracy"' in out

def test_quickstart_at_toy_size(tmp_path):
    "The main job's own path (its preset, two arms at once in worker processes), on a toy budget."
    out = cli('quickstart', '-q', '--out', tmp_path/'qs', *TOY, '--set', 'proxy_truth=None', '--set', 'data_root=None')
    assert '1 epochs of a 100-epoch cosine' in out and 'ranking 6 cells' in out
    assert 'sbn + synflow (hybrid)' in out and 'bn + synflow (hybrid)' in out and '(inherited)' not in out
    cfg = json.loads((tmp_path/'qs'/'config.json').read_text())
    want = {'schedule_epochs': 100, 'sampler': 'nb201_iso', 'arm_workers': 2, 'inherited': False}
    assert {k: cfg[k] for k in want} == want
    ck = torch.load(tmp_path/'qs'/'train_sbn'/'checkpoints'/'last.pt', weights_only=False)
    assert (ck['sched']['T_max'], ck['sched']['last_epoch']) == (200, 2)   # 2 of the cosine's 100 x 2 steps trained

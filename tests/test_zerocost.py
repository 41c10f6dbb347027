"Training-free proxies as a user meets them: the same numbers in a fresh process, and the CLI's plain verdict."
import json, subprocess, sys
from pathlib import Path
import pandas as pd, torch
from mixpath_lab.cli import _show
from mixpath_lab.spaces import nb201
from mixpath_lab.zerocost import FREE_PROXIES, free_proxy_scores

ROOT = Path(__file__).resolve().parents[1]
CELLS = ['|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|',
         '|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|']
SCRIPT = '''
import json, sys, torch
from mixpath_lab.spaces import nb201
from mixpath_lab.zerocost import free_proxy_scores
torch.manual_seed(7); x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
print(free_proxy_scores(nb201(C=4, N=1), json.loads(sys.argv[1]), x, y, seed=3).to_json())
'''

def test_scores_are_the_same_in_a_fresh_process():
    torch.manual_seed(7); x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    threads = torch.get_num_threads(); torch.set_num_threads(1)   # the fresh process below runs at 1 thread too:
    try: here = free_proxy_scores(nb201(C=4, N=1), CELLS, x, y, seed=3)   # CPU reductions depend on the thread count
    finally: torch.set_num_threads(threads)
    r = subprocess.run([sys.executable, '-c', SCRIPT, json.dumps(CELLS)], capture_output=True, text=True, cwd=ROOT,
                       env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    there = pd.read_json(__import__('io').StringIO(r.stdout))
    assert list(there.columns) == ['arch', *FREE_PROXIES]
    pd.testing.assert_frame_equal(here, there, check_exact=False, rtol=1e-12)
    assert here.loc[0, 'synflow'] > here.loc[1, 'synflow'] > 0

def test_show_prints_the_verdict(capsys):
    comp = pd.DataFrame({'n': [6, 6], 'kendall': ['0.100 [0.0, 0.2]', '0.500 [0.4, 0.6]']}, index=['sbn', 'synflow'])
    verdict = ['sbn LOSES to the free proxy synflow (Kendall tau 0.100 vs 0.500 for synflow, ...): a training-free proxy ranks these cells better.']
    _show({'comparison': comp, 'summary': {'seconds': 3.0, 'run_dir': '/tmp/r', 'free_proxy_s': 1.2, 'verdict': verdict}})
    out = capsys.readouterr().out
    assert 'Supernet vs training-free proxies (free proxies took 1 s):\n' + verdict[0] in out
    _show({'comparison': comp, 'summary': {'seconds': 3.0, 'run_dir': '/tmp/r'}})   # a run from before the proxies
    assert 'training-free' not in capsys.readouterr().out

"Ranking metrics on real NAS-Bench-201 data: CI coverage, BCa, save/load, input forms."
from pathlib import Path
import json
import numpy as np, pandas as pd, pytest, torch
from scipy import stats
from mixpath_lab.ranking import RankReport, rank_report, compare_reports
from mixpath_lab.core import MixpathError

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def nb201():
    try:
        from mixpath_lab.benchmarks import NB201
        return NB201().table
    except ImportError:
        f = ROOT / 'data' / 'nb201.csv.gz'
        if not f.exists(): pytest.skip('no NAS-Bench-201 table')
        return pd.read_csv(f)

def test_12ep_vs_200ep_tau(nb201):
    "The benchmark's 12-epoch accuracies rank 200 random cells' 200-epoch accuracies at tau ~0.7."
    tab = nb201.sample(200, random_state=1)
    r = rank_report(tab.cifar10_test_12ep.to_numpy(), tab.cifar10_test_200ep.to_numpy(), n_boot=500, seed=0)
    v, lo, hi = r.metrics['kendall']
    assert 0.6 < v < 0.85 and lo < v < hi and hi - lo < 0.25
    assert v == pytest.approx(stats.kendalltau(tab.cifar10_test_12ep, tab.cifar10_test_200ep).statistic, abs=1e-12)

def test_ci_covers_population_tau(nb201):
    "Over repeated samples of 100 cells the 95% CI holds the tau of all 15,625 cells most of the time."
    full = stats.kendalltau(nb201.cifar10_test_12ep, nb201.cifar10_test_200ep).statistic
    rng, hits, reps = np.random.default_rng(0), 0, 30
    for i in range(reps):
        s = nb201.iloc[rng.choice(len(nb201), 100, replace=False)]
        _, lo, hi = rank_report(s.cifar10_test_12ep.to_numpy(), s.cifar10_test_200ep.to_numpy(), n_boot=300, seed=i).metrics['kendall']
        hits += lo <= full <= hi
    assert hits >= 0.8 * reps, (hits, reps, full)

def test_bca_close_to_percentile(nb201):
    tab = nb201.sample(150, random_state=2)
    a = rank_report(tab.cifar10_test_12ep.to_numpy(), tab.cifar10_test_200ep.to_numpy(), n_boot=400, method='percentile')
    b = rank_report(tab.cifar10_test_12ep.to_numpy(), tab.cifar10_test_200ep.to_numpy(), n_boot=400, method='BCa')
    assert a.metrics['kendall'][0] == b.metrics['kendall'][0]
    assert np.allclose(a.metrics['kendall'][1:], b.metrics['kendall'][1:], atol=0.05)
    assert b.config['method'] == 'BCa'
    assert all(np.isfinite(v).all() for v in b.metrics.values())   # degenerate BCa (discrete top-k) falls back, and says so
    assert set(b.config.get('ci_notes', {}).get('pred', {})) <= {'precision@10', 'recall@10in50'}

def test_dict_and_sequence_agree_and_save_load(tmp_path, nb201):
    tab = nb201.sample(60, random_state=3)
    d = rank_report(dict(zip(tab.arch_str, tab.cifar10_test_12ep)), dict(zip(tab.arch_str, tab.cifar10_test_200ep)), n_boot=200)
    srt = tab.sort_values('arch_str')     # dicts are aligned by sorted key, so the same resamples need the same order
    s = rank_report(srt.cifar10_test_12ep.to_numpy(), srt.cifar10_test_200ep.to_numpy(), n_boot=200)
    assert d.metrics == s.metrics
    p = d.save(tmp_path / 'r' / 'rank.json')
    assert RankReport.load(p) == d and json.loads(p.read_text())['n'] == 60
    assert not list(p.parent.glob('.*.tmp'))

def test_proxy_params_column(nb201):
    "Params-like proxies have many ties; the report still computes every metric and puts the proxy beside."
    tab = nb201.sample(120, random_state=4)
    convs = tab.arch_str.str.count('nor_conv_3x3') * 9 + tab.arch_str.str.count('nor_conv_1x1')
    r = rank_report(tab.cifar10_test_12ep.to_numpy(), tab.cifar10_test_200ep.to_numpy(), {'convs': convs.to_numpy()}, ks=(10,), n_boot=200)
    df = compare_reports({'12ep': r}, fmt=False)
    assert list(df.index) == ['12ep', 'convs']
    for m, (v, lo, hi) in r.proxies['convs'].items(): assert lo <= v <= hi and -1 <= v <= 1, m

def test_errors():
    with pytest.raises(MixpathError, match='pred has 1 NaN'): rank_report([1, float('nan'), 3], [1, 2, 3])
    with pytest.raises(MixpathError, match='k=50'): rank_report([1, 2, 3, 4], [1, 2, 3, 4], ks=(50,))

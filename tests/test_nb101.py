"""End to end on the NAS-Bench-101 cell space and mixpath_bench: supernet training (sbn, bn, none), evaluation,
and from-scratch ground truth reloaded as a benchmark."""
import math
import pytest, torch
from mixpath_lab.benchmarks import TableBenchmark
from mixpath_lab.data import Batches
from mixpath_lab.evaluate import Evaluator
from mixpath_lab.groundtruth import GroundTruthTable, ScratchConfig, run_batch
from mixpath_lab.nb101 import NB101Supernet, mixpath_bench, nb101
from mixpath_lab.samplers import make_sampler
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import TrainConfig, Trainer

torch.set_num_threads(1)
SPACES = {'nb101': lambda: nb101(3, C=4, N=1), 'mixpath_bench': lambda: mixpath_bench(width=4)}


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _train(space, norm, run_dir):
    torch.manual_seed(0)
    x, y = _data(64, 0)
    net = Supernet(space, norm)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.05, log_every=1)
    t = Trainer(net, make_sampler('mixpath', space, 0), Batches(x, y, 16, 0), cfg, run_dir=run_dir, progress=False)
    t.fit()
    return net, [r['loss'] for r in t.history if r['kind'] == 'train']


@pytest.mark.parametrize('name', SPACES)
@pytest.mark.parametrize('norm', ['sbn', 'bn', 'none'])
def test_supernet_trains_and_evaluates(tmp_path, name, norm):
    "A few Trainer steps change the weights; the Evaluator scores sampled archs; the stored config rebuilds the net."
    space = SPACES[name]()
    fresh = {k: v.clone() for k, v in Supernet(space, norm).state_dict().items()}
    net, losses = _train(space, norm, tmp_path / 'run')
    assert len(losses) == 4 and all(math.isfinite(l) for l in losses)
    assert any(not torch.equal(fresh[k], v) for k, v in net.state_dict().items() if v.is_floating_point())
    assert (tmp_path / 'run' / 'config.json').exists()
    if name == 'nb101': assert type(net) is NB101Supernet
    x, y = _data(48, 1)
    recal = Batches(x[:16], y[:16], 16, 0, shuffle=False)
    val = Batches(x[16:], y[16:], 16, 0, shuffle=False, drop_last=False)
    ev = Evaluator(net, recal, val, n_recal_batches=1)
    archs = list(dict.fromkeys(space.encode(space.sample(i)) for i in range(4)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = ev.evaluate(archs, progress=False)
    assert [r['arch'] for r in res] == archs and all(0 <= r['acc'] <= 1 and math.isfinite(r['loss']) for r in res)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())   # statistics restored
    again = Supernet.from_config(net.config()); again.load_state_dict(net.state_dict())
    assert type(again) is type(net)
    with torch.no_grad():
        assert torch.equal(again.eval()(x[:4].float(), archs[0]), net.eval()(x[:4].float(), archs[0]))


def test_same_seed_same_numbers(tmp_path):
    "Same seed and config: the same losses on CPU, for the cell space with Shadow BN."
    a = _train(SPACES['nb101'](), 'sbn', tmp_path / 'a')[1]
    assert a == _train(SPACES['nb101'](), 'sbn', tmp_path / 'b')[1]


@pytest.mark.parametrize('name', SPACES)
def test_groundtruth_into_benchmark(tmp_path, name):
    "Two archs trained from scratch by run_batch into a table, reloaded as a TableBenchmark; a rerun trains nothing."
    space = SPACES[name](); sup = Supernet(space, 'bn')
    data = {'train': _data(64, 2), 'val': _data(32, 3)}
    archs = list(dict.fromkeys(space.encode(space.sample(i)) for i in range(6)))[:2]
    cfg, path, runs = ScratchConfig(epochs=1, batch_size=32), tmp_path / 'gt.csv', []
    model_fn = lambda a: sup.subnet(a, fresh=True)
    acc = run_batch(archs, model_fn, data, cfg, path, space=space, progress=False, on_result=lambda *r: runs.append(r))
    assert len(runs) == 2 and len(GroundTruthTable(path)) == 2
    bm = TableBenchmark.from_groundtruth(path, space)
    assert sorted(bm.archs) == sorted(archs)
    for a in archs:
        assert bm.accuracy(a) == pytest.approx(100 * acc[a])
        assert bm.params(a) == sum(p.numel() for p in model_fn(a).parameters())
        if name == 'nb101': assert bm.canonical(a) == space.canonical(a)
    rerun = run_batch(archs, model_fn, data, cfg, path, space=space, progress=False,
                      on_result=lambda *r: runs.append(r))
    assert rerun == acc
    assert len(runs) == 2

def test_rank_nb101_against_a_table(tmp_path):
    "The generic ranking experiment on the built-in NAS-Bench-101 cell space, from the command line."
    import pandas as pd
    from mixpath_lab.cli import main
    sp = nb101(m=4, C=8, N=1); archs = [sp.encode(a) for a in sp.enumerate()]
    acc = [50 + 3 * s.count('conv3x3') + s.count('conv1x1') + 0.01 * i for i, s in enumerate(archs)]   # plumbing only
    pd.DataFrame({'arch': archs, 'accuracy': acc}).to_csv(tmp_path/'t.csv', index=False)
    toy = [f'--set={kv}' for kv in ('n_train=512', 'n_recal=256', 'n_val=256', 'batch_size=128', 'n_archs=12',
                                    'epochs=1', 'steps_per_epoch=2', 'n_recal_batches=1', 'n_boot=50',
                                    'sampler=mixpath', "norms=['sbn']", "free_proxies=['synflow']",
                                    "space_kwargs={'m': 4, 'C': 8, 'N': 1}")]
    assert main(['rank', '--space', 'nb101', '--truth', str(tmp_path/'t.csv'), '-q', '--out', str(tmp_path/'r'), *toy]) == 0
    cells = pd.read_csv(tmp_path/'r'/'cells.csv')
    assert len(cells) == 12 and len({sp.canonical(a) for a in cells.arch}) == 12   # distinct up to the op multiset


def _class_table(path, seeds=(0, 1)):
    "A truth table of the 34 classes of nb101(4), one row per class and seed (plumbing only, not real accuracies)."
    import pandas as pd
    sp, reps = nb101(4), {}
    for a in sp.enumerate(): reps.setdefault(sp.canonical(a), sp.encode(a))
    rows = [{'arch': a, 'seed': s, 'accuracy': 50 + 3 * a.count('conv3x3') + a.count('conv1x1') + s + 0.01 * i}
            for i, a in enumerate(reps.values()) for s in seeds]
    pd.DataFrame(rows).to_csv(path, index=False)
    return list(reps.values())


TOY = [f'--set={kv}' for kv in ('n_train=512', 'n_recal=256', 'n_val=256', 'batch_size=128', 'epochs=1',
                                'steps_per_epoch=2', 'n_recal_batches=1', 'n_boot=50', 'sampler=mixpath',
                                "free_proxies=['synflow']")]


def test_rank_narrower_m_on_a_wider_table(tmp_path, caplog):
    "A truth table of nb101 at m=4 ranks nb101 at m=2: the 25 classes with 3 or 4 nodes are dropped with a warning."
    import json
    from mixpath_lab.cli import main
    _class_table(tmp_path/'t.csv')
    argv = ['rank', '--space', 'nb101', '--truth', str(tmp_path/'t.csv'), '-q', '--out', str(tmp_path/'r'), *TOY,
            "--set=space_kwargs={'m': 2, 'C': 4}", '--set=n_archs=9', "--set=norms=['sbn']"]
    assert main(argv) == 0
    assert '50 of 68 rows name archs outside nb101_m2' in caplog.text
    s = json.loads((tmp_path/'r'/'summary.json').read_text())
    assert s['n_cells'] == 9 and s['kendall']['sbn'][0] == s['kendall']['sbn'][0]   # ranked (a number, not NaN)
    assert main([*argv[:-2], '--set=n_archs=10', "--set=norms=['sbn']", '--fresh']) == 2   # only 9 classes at m=2


def test_released_protocol_rows(tmp_path):
    "released_protocol=True adds each arm's two released-protocol rankings, saved, with the choices in a CSV."
    import json
    import pandas as pd
    from mixpath_lab.cli import main
    _class_table(tmp_path/'t.csv', seeds=(0, 1, 2))
    argv = ['rank', '--space', 'nb101', '--truth', str(tmp_path/'t.csv'), '-q', '--out', str(tmp_path/'r'), *TOY,
            "--set=space_kwargs={'C': 4}", '--set=n_archs=12', "--set=norms=['sbn', 'none']",
            '--set=released_protocol=True']
    assert main(argv) == 0
    s = json.loads((tmp_path/'r'/'summary.json').read_text())
    for arm in ('sbn', 'none'):
        assert {f'{arm} (released protocol)', f'{arm} (released protocol, inherited)'} <= set(s['kendall'])
        ch = pd.read_csv(tmp_path/'r'/f'released_{arm}.csv')
        assert len(ch) == 1000 and ch.arch.nunique() < 255 and set(ch.columns) == {'arch', 'inherited', 'calibrated',
                                                                                    'truth'}
        rep = json.loads((tmp_path/'r'/f'rank_{arm}_released_protocol.json').read_text())
        assert rep['n'] == 970 and rep['proxies'] == {}
    assert not any('released' in v for v in s['verdict'])
    assert 'sbn (released protocol)' in (tmp_path/'r'/'report.html').read_text()
    assert main(['rank', '--space', 'tiny', '--truth', str(tmp_path/'t.csv'), '-q', '--out', str(tmp_path/'x'),
                 '--set=released_protocol=True']) == 2


def test_paper_on_mixpath_bench_shipped_truth(tmp_path):
    """`paper --space mixpath_bench` at m = 2 ranks against the shipped table (the 40 archs it holds at m <= 2), with
    the three norms beside the proxies."""
    import json
    import pandas as pd
    from mixpath_lab.cli import main
    out = tmp_path/'p'
    assert main(['paper', '--space', 'mixpath_bench', '--seeds', '0', '-q', '--out', str(out), *TOY,
                 "--set=space_kwargs={'m': 2, 'width': 4}", '--set=n_archs=8']) == 0
    cfg = json.loads((out/'seed0'/'config.json').read_text())
    assert cfg['truth'].endswith('data/mixpath_bench_truth.csv') and cfg['sampler'] == 'mixpath'
    assert cfg['space_kwargs'] == {'m': 2, 'width': 4} and cfg['norms'] == ['sbn', 'bn', 'none']
    cells = pd.read_csv(out/'seed0'/'cells.csv')
    assert len(cells) == 8 and all(max(len(p.split('+')) for p in a.split('|')) <= 2 for a in cells.arch)
    assert cells.synflow.between(-1e30, 1e30).all()
    t = pd.read_csv(out/'paper_table.csv', header=[0, 1], index_col=0)
    assert {'sbn', 'bn', 'none', 'params (proxy)'} <= set(t.index)

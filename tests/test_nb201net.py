"""NAS-Bench-201 cell supernet across modules: dispatch, export for every norm, optimizer isolation,
checkpoint round trip, the benchmark table's strings, and cost figures against the published ones."""
import io
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from mixpath_lab.core import MixpathError
from mixpath_lab.sbn import NORMS, PathSum, PostSumNorm
from mixpath_lab.spaces import nb201, tiny, NB201_OPS
from mixpath_lab.supernet import Supernet
from mixpath_lab.nb201net import NB201Supernet, NB201Net, cell_plan
from mixpath_lab.cost import CostModel

torch.set_num_threads(1)
LARGEST = '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|'
SMALLEST = '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
TABLE = Path(__file__).resolve().parents[1] / '..' / 'shared' / 'data' / 'nas-bench-201' / 'nb201_combined.csv'


def trained(space, norm, steps=4, seed=0):
    "A supernet after a few SGD steps on random archs (BN statistics and weights off their init)."
    torch.manual_seed(seed); net = Supernet(space, norm); rng = np.random.default_rng(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(torch.randn(8, 3, 8, 8, generator=g), space.sample(rng)), torch.randint(0, 10, (8,), generator=g)).backward()
        opt.step()
    return net


def test_dispatch_and_config_round_trip():
    sp = nb201(C=4, N=1)
    net = Supernet(sp, 'combo')
    assert type(net) is NB201Supernet and net.norm == 'combo' and net.space is sp
    net2 = Supernet.from_config(net.config())
    assert type(net2) is NB201Supernet and net2.config() == net.config()
    net2.load_state_dict(net.state_dict())            # same parameter names and shapes
    with pytest.raises(MixpathError, match='needs an NB201Space'):
        NB201Supernet(tiny())


@pytest.mark.parametrize('norm', NORMS)
def test_subnet_matches_supernet_after_training(norm):
    sp = nb201(C=8, N=2)
    net = trained(sp, norm).eval()
    rng, x = np.random.default_rng(5), torch.randn(3, 3, 8, 8)
    archs = [sp.sample(rng) for _ in range(4)] + [sp.decode(LARGEST), sp.decode(SMALLEST)]
    with torch.no_grad():
        for a in archs:
            sub = net.subnet(a)
            torch.testing.assert_close(sub(x), net(x, a), atol=1e-5, rtol=0)
            assert sub.arch == sp.encode(a)
    net.train()
    fed = [a for a in archs if all(sp.node_ks(a))][:3]   # every node fed: the graph reaches the input
    assert len(fed) >= 2
    for a in fed:
        net.zero_grad(set_to_none=True); net(x, a).sum().backward()
        used = sum(p.numel() for p in net.parameters() if p.grad is not None)
        assert used == sum(p.numel() for p in net.subnet(a).parameters())   # the subnet holds exactly the weights used


def test_post_sum_norm_index_follows_k():
    sp = nb201(C=4, N=1)
    net = Supernet(sp, 'sbn').train()
    seen = []
    hooks = [m.register_forward_hook(lambda mod, args, out: seen.append((mod.index(args[1]), len(args[1]))))
             for m in net.modules() if isinstance(m, PostSumNorm)]
    rng = np.random.default_rng(0)
    for _ in range(10):
        a = sp.sample(rng); seen.clear(); net(torch.randn(2, 3, 8, 8), a)
        ks = [k for k in sp.node_ks(a) if k]
        assert [k for _, k in seen] == ks * 3                      # 3 cells, nodes with inputs only
        assert all(i == k - 1 for i, k in seen)                    # SBN[k-1]
    for h in hooks: h.remove()


def sgd_leaves_inactive_untouched(net, a, b, x, y):
    "Step SGD (momentum, weight decay) on `a`, then on `b`; the names of the state `b`'s step changed."
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for arch in (a, b):
        if arch is b: before = {k: v.clone() for k, v in net.state_dict().items()}
        opt.zero_grad(set_to_none=True); F.cross_entropy(net(x, arch), y).backward(); opt.step()
    return {k for k, v in net.state_dict().items() if not torch.equal(before[k], v)}


def test_sgd_leaves_inactive_ops_untouched():
    sp = nb201(C=4, N=1)
    torch.manual_seed(0); net = Supernet(sp, 'sbn').train()
    a = sp.decode('|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|')
    b = sp.decode('|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_3x3~2|')
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    changed = sgd_leaves_inactive_untouched(net, a, b, x, y)
    e3 = NB201_OPS.index('nor_conv_3x3')
    assert f'cells.0.edges.0.{e3}.1.weight' not in changed         # used by a (momentum), not by b
    assert not any(k.startswith(f'cells.0.edges.0.{e3}.') for k in changed)
    assert 'cells.0.norms.2.bns.2.running_mean' not in changed      # a's k=3 shadow of node 3
    assert 'cells.0.edges.5.3.1.weight' in changed and 'cells.0.norms.2.bns.0.weight' in changed


def test_checkpoint_round_trip_weights_only():
    sp = nb201(C=4, N=1)
    net = trained(sp, 'sbn', steps=2).eval()
    buf = io.BytesIO(); torch.save({'config': net.config(), 'model': net.state_dict()}, buf); buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    net2 = Supernet.from_config(ck['config']); net2.load_state_dict(ck['model']); net2.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad(): torch.testing.assert_close(net2(x, LARGEST), net(x, LARGEST))


def test_fresh_subnet_is_the_benchmark_network():
    sp = nb201(C=4, N=1)
    net = trained(sp, 'none', steps=1)
    f = net.subnet(LARGEST, fresh=True, seed=2)
    plain = NB201Net(sp, LARGEST)
    assert {k: v.shape for k, v in f.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    assert not any(isinstance(m, (PathSum, PostSumNorm)) for m in f.modules())
    assert all(torch.equal(v, net.subnet(LARGEST, fresh=True, seed=2).state_dict()[k]) for k, v in f.state_dict().items())
    bn = [m for m in f.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(int(m.num_batches_tracked) == 0 for m in bn)         # statistics reset too


def test_cost_matches_published_nas_bench_201():
    # NAS-Bench-201 CIFAR-10: params 0.073306 .. 1.531546 M, FLOPs (MACs) 7.78305 .. 220.11969 M
    cm = CostModel(Supernet(nb201(), 'none'), (1, 3, 32, 32))
    big, small = cm(LARGEST), cm(SMALLEST)
    assert (big['params'], small['params']) == (1_531_546, 73_306)
    assert abs(big['macs'] / 220.11969e6 - 1) < 0.05 and abs(small['macs'] / 7.78305e6 - 1) < 0.05
    # a 3x3 -> 1x1 swap on edge 0->1 saves C*C*8 MACs per pixel in each of the 5 cells of each stage
    one = LARGEST.replace('nor_conv_3x3~0|+', 'nor_conv_1x1~0|+', 1)
    per_stage = [c * c * 8 * hw * hw * 5 for c, hw in ((16, 32), (32, 16), (64, 8))]
    assert big['macs'] - cm.macs(one) == sum(per_stage)
    # FLOPs come straight from torch's counter on the exported subnet
    sub = cm.supernet.subnet(one).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc: sub(torch.zeros(1, 3, 32, 32))
    assert fc.get_total_flops() == cm.flops(one)


@pytest.mark.skipif(not TABLE.exists(), reason='needs ../shared/data/nas-bench-201 (the full ground-truth table)')
def test_every_table_string_decodes():
    sp = nb201()
    strs = pd.read_csv(TABLE, usecols=['arch_str'])['arch_str'].tolist()
    assert len(strs) == 15625 and len(set(strs)) == 15625
    archs = [sp.decode(s) for s in strs]
    assert set(archs) == set(sp.enumerate())
    for a in archs[::7]: assert tuple(len(p) for _, p in cell_plan(a)) == sp.node_ks(a)

"""FeatureStats across supernet kinds: user-defined spaces, every norm, NAS-Bench-201 nodes, hooks during training."""
import math
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mixpath_lab.sbn import PathSum, PostSumNorm
from mixpath_lab.spaces import layerwise, nb201, tiny
from mixpath_lab.stats import FeatureStats, compare_norms, norm_stats
from mixpath_lab.supernet import Supernet

torch.set_num_threads(1)


def n_hooks(net):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())


def user_space():
    return layerwise([dict(c_in=8, c_out=8, ops=['identity', 'mb_k3_e3', 'dw5', 'dw7'], m=3),
                      dict(c_in=8, c_out=16, stride=2, ops=['mb_k3_e3', 'mb_k5_e6', 'mb_k7_e3'], m=2)], stem_width=8)


@pytest.mark.parametrize('space,norm', [(user_space(), 'sbn'), (user_space(), 'combo'), (tiny(m=3), 'none'),
                                        (nb201(C=8, N=1), 'sbn'), (nb201(C=8, N=1), 'none')])
def test_collect_any_space_and_norm(space, norm):
    torch.manual_seed(0); net = Supernet(space, norm).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    xs = [torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    fs = FeatureStats(net).collect(xs, space, n_batches=2, rng=0)
    fs.collect([(x, torch.zeros(len(x), dtype=torch.long)) for x in xs], [space.sample(np.random.default_rng(i)) for i in range(5)], n_batches=1)
    assert n_hooks(net) == 0 and not net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    recs = fs.records()
    names = {n for n, m in net.named_modules() if isinstance(m, (PathSum, PostSumNorm))}
    assert {r['module'] for r in recs} <= names and {r['site'] for r in recs} == {'sum', 'norm'}
    for r in recs:
        assert r['var'] >= 0 and r['rms'] > 0 and r['n'] > 0 and abs(r['rms'] ** 2 - r['var'] - r['mean'] ** 2) < 1e-6 * r['rms'] ** 2
        if r['site'] == 'sum': assert -1 <= r['cos'] <= 1 + 1e-6 and (r['k'] > 1 or abs(r['cos'] - 1) < 1e-5)
        if r['k'] == 1: assert r['rms_ratio'] == pytest.approx(1.0)
    by_paths = fs.records(by_paths=True)
    assert sum(r['n'] for r in by_paths) == sum(r['n'] for r in recs)
    assert all(len(r['paths']) == r['k'] for r in by_paths)
    t = fs.table('rms')
    assert set(t.columns) <= {1, 2, 3} and len(t) == len({r['module'] for r in recs if r['site'] == 'sum'})


def test_attached_during_training_changes_nothing():
    "Hooks watch training steps without changing losses or gradients."
    space = tiny(m=2); x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    grads = []
    for attach in (False, True):
        torch.manual_seed(0); net = Supernet(space, 'sbn').train()
        fs = FeatureStats(net)
        if attach: fs.attach()
        loss = F.cross_entropy(net(x, space.sample(np.random.default_rng(3))), y); loss.backward()
        grads.append([p.grad.clone() for p in net.parameters() if p.grad is not None])
        assert (len(fs.records()) > 0) == attach
        fs.detach(); assert n_hooks(net) == 0
    assert all(torch.equal(a, b) for a, b in zip(*grads)) and len(grads[0]) == len(grads[1])


def test_nb201_shadow_vs_single():
    "NAS-Bench-201 node norms: each shadow BN's statistics grow with the node's k; the shared BN sits between."
    space, nets = nb201(C=8, N=1), {}
    for norm in ('sbn', 'bn'):
        torch.manual_seed(0); nets[norm] = Supernet(space, norm).train()
        for m in nets[norm].modules():
            if isinstance(m, torch.nn.BatchNorm2d): m.momentum = None
    # cells with every node at k = 1, then 2 (where possible), then 3: each shadow sees the same number of batches
    archs = [space.decode(s) for s in ('|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_3x3~0|none~1|none~2|',
                                       '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|',
                                       '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|')]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i in range(12):
            x = torch.randn(16, 3, 16, 16, generator=g)
            for n in nets.values(): n(x, archs[i % 3])
    recs = compare_norms(nets['sbn'], nets['bn'])
    assert len(recs) == len(norm_stats(nets['sbn'])) == 3 * 6  # 3 cells x (1 + 2 + 3) shadows
    node3 = sorted((r for r in recs if r['module'].endswith('norms.2')), key=lambda r: (r['module'], r['k']))
    for c in range(3):
        rms = [r['running_rms'] for r in node3[3 * c:3 * c + 3]]
        assert rms[0] < rms[1] < rms[2] and rms[0] < node3[3 * c]['single_rms'] < rms[2], node3

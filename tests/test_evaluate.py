"""Evaluator across modules: real data splits (mixpath_lab.data), every supernet kind, and agreement with an
exported subnet recalibrated by hand."""
import numpy as np
import pytest
import torch
from torch import nn
from mixpath_lab.data import Batches, load_cifar10, split_indices
from mixpath_lab.evaluate import Evaluator, bn_modules
from mixpath_lab.spaces import layerwise, nb201, tiny
from mixpath_lab.supernet import Supernet

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def splits():
    "Disjoint recalibration and validation splits of the embedded CIFAR-10 training data, at 16x16."
    x, y = load_cifar10()
    idx = split_indices(len(x), {'train': None, 'recal': 192, 'val': 128}, seed=0)
    mk = lambda k, s: Batches(x[idx[k]], y[idx[k]], 32, seed=s, size=16, shuffle=k == 'recal')
    return mk('recal', 1), mk('val', 2)


def state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize('space,norm', [(tiny(m=2), 'sbn'), (tiny(m=3), 'combo'), (nb201(C=8, N=1), 'sbn'), (nb201(C=8, N=1), 'bn')])
def test_restore_exact_and_deterministic(splits, space, norm):
    torch.manual_seed(0); net = Supernet(space, norm).train()
    archs = [space.sample(np.random.default_rng(i)) for i in range(3)]
    before = state(net)
    splits[0].set_epoch(0)  # a Batches yields the next epoch on each pass: pick one
    ev = Evaluator(net, *splits, n_recal_batches=4)
    rs = ev.evaluate(archs, progress=False)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net.training and all(m.training for m in net.modules())
    assert all(0 <= r['acc'] <= 1 and r['recalibrated'] for r in rs)
    # a second evaluator materializes the same batches: the same numbers; both BN scopes agree exactly
    splits[0].set_epoch(0)
    ev2 = Evaluator(net, *splits, n_recal_batches=4, scope='all')
    assert [r['acc'] for r in ev2.evaluate(archs, progress=False)] == [r['acc'] for r in rs]
    assert [r['loss'] for r in ev2.evaluate(archs, progress=False)] == [r['loss'] for r in rs]


def test_matches_subnet_recalibrated_by_hand(splits):
    "The evaluator's recalibrated accuracy equals that of the exported subnet with BNs reset and re-estimated."
    space = layerwise([dict(c_in=8, c_out=8, ops=['identity', 'mb_k3_e3', 'dw5'], m=2),
                       dict(c_in=8, c_out=16, stride=2, ops=['mb_k3_e3', 'mb_k5_e6'], m=2)], stem_width=8, head_width=32)
    torch.manual_seed(0); net = Supernet(space, 'sbn')
    recal, val = splits
    with torch.no_grad():  # give the supernet some non-trivial running statistics first
        net.train()
        for x, _ in recal: net(x, space.sample(np.random.default_rng(int(x[0, 0, 0, 0] * 1e4) % 97)))
    ev = Evaluator(net, recal, val, n_recal_batches=5)
    for i in range(3):
        arch = space.sample(np.random.default_rng(10 + i))
        sub = net.subnet(arch)
        for m in bn_modules(sub): m.reset_running_stats(); m.momentum = None
        with torch.no_grad():
            sub.train()
            for x, _ in ev.recal: sub(x)
            sub.eval()
            logits = torch.cat([sub(x) for x, _ in ev.val]); y = torch.cat([y for _, y in ev.val])
        acc_hand = (logits.argmax(1) == y).float().mean().item()
        assert abs(ev.accuracy(arch) - acc_hand) <= 1 / len(y) + 1e-9  # at most one near-tie flips
        assert ev.result(arch)['cached']


def test_inherited_vs_recalibrated(splits):
    "Inherited statistics of a subnet that shares a supernet's mixed BN statistics differ from recalibrated ones."
    space = tiny(m=2); torch.manual_seed(0); net = Supernet(space, 'bn')
    recal, val = splits
    with torch.no_grad():
        net.train()
        for j, (x, _) in enumerate(recal): net(x * (1 + j), space.sample(np.random.default_rng(j)))  # skewed stats
    ev = Evaluator(net, recal, val, n_recal_batches=3)
    a = space.sample(np.random.default_rng(5))
    r_inh, r_rec = ev.result(a, recalibrate=False), ev.result(a)
    assert not r_inh['recalibrated'] and r_rec['recalibrated']
    assert r_inh['loss'] != r_rec['loss']
    assert len(ev.cache) == 2 and ev.result(a, recalibrate=False)['cached']

"Op registry, layer-wise supernet, subnet export and cost model: cross-module checks (fast, CPU)."
import copy, io
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from mixpath_lab.core import MixpathError
from mixpath_lab.ops import OPS, register_op, check_op, conv_bn
from mixpath_lab.spaces import tiny, mixpath_s1, layerwise, nb201
from mixpath_lab.supernet import Supernet, LayerwiseSupernet
from mixpath_lab.cost import CostModel

torch.set_num_threads(1)


def user_space():
    widths = [16, 16, 24, 24, 24, 32, 32, 32]
    return layerwise([dict(c_in=ci, c_out=co, stride=1 if ci == co else 2, m=2,
                           ops=(['identity'] if ci == co else []) + ['mb_k3_e3', 'mb_k5_e6'])
                      for ci, co in zip([16] + widths[:-1], widths)], stem_width=16, head_width=64, name='mine')


SPACES = {'tiny': tiny, 's1_m2': lambda: mixpath_s1(2), 'user': user_space}


@pytest.mark.parametrize('name', sorted(OPS))
def test_every_registered_op_shape_and_stride(name):
    assert check_op(name) >= 1          # accepts at least c_in == c_out, stride 1; right shape wherever it accepts


def test_a_newly_registered_op_is_usable_in_a_space():
    @register_op('test_avgpool_bn')
    def _op(c_in, c_out, stride):
        return nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), conv_bn(c_in, c_out, 1, act=False))
    try:
        assert check_op('test_avgpool_bn') == 4
        sp = layerwise([dict(c_in=8, c_out=8, ops=['identity', 'test_avgpool_bn'], m=2),
                        dict(c_in=8, c_out=16, stride=2, ops=['test_avgpool_bn', 'mb_k3_e3'])], stem_width=8)
        net = Supernet(sp).eval()
        a = sp.decode('identity+test_avgpool_bn|test_avgpool_bn')
        x = torch.randn(2, 3, 16, 16)
        torch.testing.assert_close(net.subnet(a)(x), net(x, a), rtol=0, atol=1e-5)
    finally:
        del OPS['test_avgpool_bn']


@pytest.mark.parametrize('norm', ['sbn', 'bn', 'combo', 'none'])
@pytest.mark.parametrize('space', list(SPACES))
def test_subnet_matches_supernet_in_eval(space, norm):
    sp = SPACES[space](); torch.manual_seed(0)
    net = Supernet(sp, norm); rng = np.random.default_rng(1)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        for _ in range(2): net(x, sp.sample(rng))      # BN statistics away from their init
    net.eval()
    for _ in range(3):
        a = sp.sample(rng); sub = net.subnet(a)
        assert isinstance(sub, nn.Module) and not sub.training and sub.arch == sp.encode(a)
        with torch.no_grad(): torch.testing.assert_close(sub(x), net(x, a), rtol=0, atol=1e-5)


def _used(net, x, a):
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x, a), torch.zeros(len(x), dtype=torch.long)).backward()
    return {n for n, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('space', ['tiny', 'user'])
def test_grads_exactly_on_the_subnets_weights(space):
    sp = SPACES[space](); torch.manual_seed(0); net = Supernet(sp).train()
    x, rng = torch.randn(4, 3, 16, 16), np.random.default_rng(2)
    for _ in range(3):
        a = sp.sample(rng); used = _used(net, x, a)
        n_used = sum(p.numel() for n, p in net.named_parameters() if n in used)
        assert n_used == sum(p.numel() for p in net.subnet(a).parameters())
        assert n_used < sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize('space', ['tiny', 'user'])
def test_sgd_momentum_weight_decay_leaves_inactive_state_bit_identical(space):
    sp = SPACES[space](); torch.manual_seed(0); net = Supernet(sp).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x, y, rng = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,)), np.random.default_rng(3)
    archs = [sp.sample(rng) for _ in range(4)]
    for a in archs[:-1]:      # fill momentum buffers along several archs
        opt.zero_grad(set_to_none=True); F.cross_entropy(net(x, a), y).backward(); opt.step()
    b = archs[-1]; before = {k: v.clone() for k, v in net.state_dict().items()}
    opt.zero_grad(set_to_none=True); F.cross_entropy(net(x, b), y).backward()
    used = {n for n, p in net.named_parameters() if p.grad is not None}
    opt.step()
    changed = {k for k, v in net.state_dict().items() if not torch.equal(before[k], v)}
    params = dict(net.named_parameters())
    inactive_with_momentum = [n for n in params if n not in used and 'momentum_buffer' in opt.state.get(params[n], {})]
    assert inactive_with_momentum                     # the check is not vacuous: momentum would move these
    assert not changed & set(inactive_with_momentum)
    bufs_of_used = {n.rsplit('.', 1)[0] for n in used}
    assert all(k.rsplit('.', 1)[0] in bufs_of_used for k in changed)   # only used modules' params/BN stats moved


def test_no_sampled_state_in_the_modules():
    sp = tiny(); torch.manual_seed(0); net = Supernet(sp).eval(); x = torch.randn(2, 3, 16, 16)
    a, b = sp.sample(0), sp.sample(1)
    with torch.no_grad(): ya = net(x, a); net(x, b); torch.testing.assert_close(net(x, a), ya, rtol=0, atol=0)


def test_dispatch_and_subclassing():
    assert type(Supernet(tiny())) is LayerwiseSupernet
    from mixpath_lab.nb201net import NB201Supernet
    nb = Supernet(nb201(8, 1), 'sbn')
    assert type(nb) is NB201Supernet and isinstance(nb, Supernet)
    with pytest.raises(MixpathError, match='no supernet for'): Supernet('tiny')


def test_deepcopy_pickle_and_config_roundtrip():
    sp = tiny(); torch.manual_seed(0); net = Supernet(sp, 'combo').eval(); x = torch.randn(2, 3, 16, 16); a = sp.sample(4)
    twin = copy.deepcopy(net)
    assert type(twin) is LayerwiseSupernet
    buf = io.BytesIO(); torch.save({'config': net.config(), 'model': net.state_dict()}, buf); buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    re = Supernet.from_config(ck['config']); re.load_state_dict(ck['model']); re.eval()
    assert re.config() == net.config() and re.norm == 'combo'
    with torch.no_grad():
        torch.testing.assert_close(twin(x, a), net(x, a), rtol=0, atol=0)
        torch.testing.assert_close(re(x, a), net(x, a), rtol=0, atol=0)


def test_fresh_subnet_same_structure_seeded_init():
    sp = user_space(); torch.manual_seed(0); net = Supernet(sp); a = sp.sample(5)
    s, f1, f2 = net.subnet(a), net.subnet(a, fresh=True, seed=7), net.subnet(a, fresh=True, seed=7)
    assert [(k, v.shape) for k, v in s.state_dict().items()] == [(k, v.shape) for k, v in f1.state_dict().items()]
    assert all(torch.equal(v, f2.state_dict()[k]) for k, v in f1.state_dict().items())
    assert not torch.equal(s.stem[0].weight, f1.stem[0].weight)
    state = torch.random.get_rng_state(); net.subnet(a, fresh=True, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())     # the global generator is left alone


@pytest.mark.parametrize('space', ['tiny', 'user'])
def test_cost_model_counts_what_the_supernet_runs(space):
    sp = SPACES[space](); torch.manual_seed(0); net = Supernet(sp).eval(); cm = CostModel(net, (1, 3, 32, 32))
    for a in (sp.sample(i) for i in range(3)):
        with torch.no_grad(), FlopCounterMode(display=False) as fc: net(torch.zeros(1, 3, 32, 32), a)
        rec = cm(a)
        assert rec['flops'] == fc.get_total_flops() and rec['macs'] * 2 == rec['flops']
        assert rec['params'] == sum(p.numel() for p in net.subnet(a).parameters())
        assert cm(sp.encode(a)) == rec
    assert len(cm.cache) == 3

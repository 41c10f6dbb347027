"Trainer with the real supernet, every registered sampler and augmented batches: a crash and a resume equal an uninterrupted run."
import json
import pytest
import torch
from mixpath_lab.core import RunDir
from mixpath_lab.data import Batches
from mixpath_lab.samplers import SAMPLERS, make_sampler
from mixpath_lab.spaces import nb201, tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import CKPT_FORMAT, Callback, Trainer, TrainConfig, decode_state

SAMPLER_SETUPS = {'spos': (1, {}), 'fair': (1, {}), 'mixpath': (2, {}), 'uniform_sets': (2, {}),
                  'flops_binned': (2, dict(cost_fn=lambda a: sum(a.ks), cost_range=(3, 6), n_bins=3)),
                  'nb201_connected': (1, {}), 'nb201_iso': (1, {})}   # these two on NAS-Bench-201 cells (C=4, N=1)

def build(name):
    m, kw = SAMPLER_SETUPS[name]
    space = nb201(C=4, N=1) if name.startswith('nb201_') else tiny(m=m)
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randint(0, 256, (48, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (48,), generator=g)
    torch.manual_seed(0)
    return (Supernet(space, 'sbn'), make_sampler(name, space, 3, **kw), Batches(X, Y, 16, seed=5, augment=True, cutout=4),
            TrainConfig(epochs=3, batch_size=16, lr=0.05, ckpt_every=2, log_every=2, seed=11))

class Crash(Callback):
    "A killed process: dies in the middle of epoch 2 (last checkpoint: end of epoch 1, i.e. after 2 epochs)."
    def before_step(self):
        if self.step == 8: raise KeyboardInterrupt('killed')

def no_time(h): return [{k: v for k, v in r.items() if k != 'time'} for r in h]

def test_every_sampler_is_covered():
    assert set(SAMPLER_SETUPS) == set(SAMPLERS), 'add new samplers to SAMPLER_SETUPS'

@pytest.mark.parametrize('name', sorted(SAMPLER_SETUPS))
def test_crash_and_resume_equal_uninterrupted(name, tmp_path):
    torch.set_num_threads(1)
    full = Trainer(*build(name), run_dir=tmp_path/'full', progress=False).fit()
    with pytest.raises(KeyboardInterrupt):
        Trainer(*build(name), run_dir=tmp_path/'part', callbacks=[Crash()], progress=False).fit()
    ck = torch.load(tmp_path/'part'/'checkpoints'/'last.pt', weights_only=True)
    assert ck['format'] == CKPT_FORMAT and (ck['epoch'], ck['step']) == (2, 6)
    assert len(RunDir(tmp_path/'part').history()) > ck['history_len']   # records after the checkpoint: dropped on resume
    part = Trainer(*build(name), run_dir=tmp_path/'part', progress=False).fit(resume=True)
    assert part.start_epoch == 2 and part.step == full.step == 9
    fs, ps = full.model.state_dict(), part.model.state_dict()
    assert all(torch.equal(fs[k], ps[k]) for k in fs)
    fo, po = full.opt.state_dict(), part.opt.state_dict()
    assert fo['param_groups'] == po['param_groups'] and fo['state'].keys() == po['state'].keys()
    assert all(torch.equal(fo['state'][i]['momentum_buffer'], po['state'][i]['momentum_buffer']) for i in fo['state'])
    assert full.sched.state_dict() == part.sched.state_dict()
    assert json.dumps(full.sampler.state_dict(), sort_keys=True) == json.dumps(part.sampler.state_dict(), sort_keys=True)
    assert full.sampler.sample() == part.sampler.sample()
    assert no_time(full.history) == no_time(part.history) == no_time(RunDir(tmp_path/'part').history())
    assert len({r['arch'] for r in full.history if r['kind'] == 'train'}) > 1
    # the final checkpoints agree too (sampler state decoded from its JSON form)
    a, b = (torch.load(p/'checkpoints'/'last.pt', weights_only=True) for p in (tmp_path/'full', tmp_path/'part'))
    assert decode_state(a['sampler']) == decode_state(b['sampler'])
    assert no_time(json.loads(a['history'])) == no_time(json.loads(b['history']))

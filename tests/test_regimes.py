"Cream (prioritized board) and Pi-NAS (cross-path consistency) regimes on the real trainer: every sampler, SBN and one BN, NB201; BN side effects, EMA, exact resume."
import json, math
import numpy as np
import pytest
import torch
from mixpath_lab.core import MixpathError, RunDir
from mixpath_lab.data import Batches
from mixpath_lab.regimes import Board, BoardEntry, CrossPathConsistency, PrioritizedBoard, make_regime, regime_params
from mixpath_lab.samplers import SAMPLERS, make_sampler
from mixpath_lab.spaces import nb201, tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import CancelFitException, Callback, Trainer, TrainConfig

SAMPLER_SETUPS = {'spos': (1, {}), 'fair': (1, {}), 'mixpath': (2, {}), 'uniform_sets': (2, {}),
                  'flops_binned': (2, dict(cost_fn=lambda a: sum(a.ks), cost_range=(3, 6), n_bins=3)),
                  'nb201_connected': (1, {}), 'nb201_iso': (1, {})}   # these two on NAS-Bench-201 cells (C=4, N=1)

def data(n=48, hw=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, hw, hw), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)

def build(sampler='mixpath', norm='sbn', space=None, epochs=3):
    m, kw = SAMPLER_SETUPS[sampler]
    space = space or (nb201(C=4, N=1) if sampler.startswith('nb201_') else tiny(m=m))
    X, Y = data()
    torch.manual_seed(0)
    return (Supernet(space, norm), make_sampler(sampler, space, 3, **kw), Batches(X, Y, 16, seed=5, augment=True, cutout=4),
            TrainConfig(epochs=epochs, batch_size=16, lr=0.05, ckpt_every=1, log_every=2, seed=11))

def cream(**kw): return PrioritizedBoard(**{'k': 3, 'warmup_steps': 1, 'meta_every': 2, 'cost': 'params', 'meta_lr': 0.1, **kw})
def pinas(**kw): return CrossPathConsistency(**{'consistency': 'infonce', 'queue_size': 40, **kw})
REGIMES = {'cream': cream, 'pinas': pinas}

def no_time(h): return [{k: v for k, v in r.items() if k != 'time'} for r in h]

# ---------------------------------------------------------------- the admission rule, against a brute-force reference
def reference_board(offers, k, margin):
    "Cream's rule written out plainly: a list kept sorted by (-acc, flops, step), truncated to k."
    board = []
    for acc, flops, step in offers:
        if len(board) < k: ok = True
        else:
            w = board[-1]
            ok = acc > w[0] + margin or (acc > w[0] and flops < w[1])
        if ok: board = sorted(board + [(acc, flops, step)], key=lambda e: (-e[0], e[1], e[2]))[:k]
    return board

@pytest.mark.parametrize('k,margin', [(1, 0.0), (3, 5.0), (10, 5.0), (4, 2.5)])
def test_admission_matches_reference(k, margin):
    rng = np.random.default_rng(k)
    offers = [(float(rng.integers(0, 21)) * 5, float(rng.integers(1, 6)) * 100, s) for s in range(300)]
    b = Board(k, margin)
    changed = [b.offer(BoardEntry(f'a{s}', acc, fl, s)) for acc, fl, s in offers]
    assert [(e.acc, e.flops, e.step) for e in b.entries] == reference_board(offers, k, margin)
    assert len(b) == min(k, 300) and any(changed) and not all(changed)

def test_admission_rules_one_by_one():
    b = Board(2, 5.0)
    assert b.offer(BoardEntry('a', 10, 100)) and b.offer(BoardEntry('b', 50, 100))   # not full
    assert not b.offer(BoardEntry('c', 15, 100))       # beats the worst by exactly the margin, same cost: out
    assert not b.offer(BoardEntry('c', 10, 50))        # cheaper but not more accurate: out
    assert b.offer(BoardEntry('c', 11, 99))            # more accurate and cheaper: in, the old worst leaves
    assert [e.arch for e in b.entries] == ['b', 'c']
    assert b.offer(BoardEntry('d', 16.5, 1000))        # beats the worst by more than the margin
    assert [e.arch for e in b.entries] == ['b', 'd']

def test_teacher_is_the_best_scored_entry_and_rho_is_its_own():
    "rho = sigmoid(-score) of the CHOSEN board path (the released code takes the last entry's score)."
    torch.set_num_threads(1)
    model, s, b, cfg = build(epochs=2)
    cb = cream(meta_every=0)
    Trainer(model, s, b, cfg, callbacks=[cb], progress=False).fit()
    with torch.no_grad(): cb.net.out.weight.normal_(0, 3, generator=torch.Generator().manual_seed(1))
    not_last = 0
    for arch in [s.sample() for _ in range(10)]:
        sc = cb.scores(arch).detach(); i, rho = cb.select(arch)
        assert i == int(sc.argmax()) and rho.item() == pytest.approx(torch.sigmoid(-sc[i]).item(), abs=1e-6)
        not_last += abs(rho.item() - torch.sigmoid(-sc[-1]).item()) > 1e-3
    assert not_last > 0

# ---------------------------------------------------------------- every sampler, both norms, both regimes
@pytest.mark.parametrize('regime', sorted(REGIMES))
@pytest.mark.parametrize('sampler', sorted(SAMPLER_SETUPS))
def test_trains_with_every_sampler(regime, sampler):
    torch.set_num_threads(1)
    norm = 'bn' if sampler in ('fair', 'uniform_sets') else 'sbn'
    model, s, b, cfg = build(sampler, norm, epochs=2)
    variants = {'spos': dict(consistency='kl', rep='logits', mean_teacher=False), 'fair': dict(consistency='cosine', rep='features')}
    cb = REGIMES[regime](**(variants.get(sampler, {}) if regime == 'pinas' else {}))
    t = Trainer(model, s, b, cfg, callbacks=[cb], progress=False).fit()
    losses = [r['loss'] for r in t.history if r['kind'] in ('train', 'epoch')]
    assert losses and all(math.isfinite(x) for x in losses)
    if regime == 'cream':
        assert len(cb.board) == 3 and cb.board.entries[0].acc == max(e.acc for e in cb.board.entries)
        assert s.space.contains(cb.best()) and any(r['kind'] == 'board' and r['teacher'] for r in t.history)
    else:
        assert s.n_sampled == 2 * t.step and t.sampler is s
        assert cb.queue_n == (min(40, 2 * 16 * t.step) if cb.consistency == 'infonce' else 0) and (cb.ema is None) == (sampler == 'spos')
        assert all(math.isfinite(r['cons']) and r['cons'] >= 0 for r in t.history if r['kind'] == 'pinas')

def test_every_sampler_is_covered():
    assert set(SAMPLER_SETUPS) == set(SAMPLERS), 'add new samplers to SAMPLER_SETUPS'

@pytest.mark.parametrize('regime', sorted(REGIMES))
def test_nb201_space(regime):
    torch.set_num_threads(1)
    space = nb201(C=4, N=1)
    X, Y = data()
    torch.manual_seed(0)
    model = Supernet(space, 'sbn')
    cb = REGIMES[regime](**({'rep': 'features'} if regime == 'pinas' else {}))
    t = Trainer(model, make_sampler('spos', space, 0), Batches(X, Y, 16, seed=0), TrainConfig(epochs=1, batch_size=16, log_every=1),
                callbacks=[cb], progress=False).fit()
    assert all(math.isfinite(r['loss']) for r in t.history if r['kind'] == 'train')
    if regime == 'cream': assert space.contains(cb.best())

def test_default_cost_is_flops():
    "cost='flops' measures with mixpath_lab.cost.CostModel on the batch's image size."
    from mixpath_lab.cost import CostModel
    torch.set_num_threads(1)
    model, s, b, cfg = build(epochs=1)
    cb = PrioritizedBoard(k=3, warmup_steps=0, meta_every=0)
    Trainer(model, s, b, cfg, callbacks=[cb], progress=False).fit()
    cm = CostModel(model, (1, 3, 8, 8))
    assert [e.flops for e in cb.board.entries] == [float(cm.flops(e.arch)) for e in cb.board.entries]

# ---------------------------------------------------------------- side effects
class BufferSpy(Callback):
    "Snapshots the supernet's buffers just before (order 4) and checks just after (order 6) the regime's events."
    def __init__(self, order, store): self.order, self.store, self.checked = order, store, 0
    def _snap(self, ev): self.store[ev] = {k: v.clone() for k, v in self.model.named_buffers()}
    def _check(self, ev):
        for k, v in self.model.named_buffers(): assert torch.equal(v, self.store[ev][k]), (ev, k)
        self.checked += 1
    def before_step(self): self._snap('bs') if self.order < 5 else self._check('bs')
    def after_loss(self): self._snap('al') if self.order < 5 else self._check('al')

def test_cream_extra_forwards_leave_bn_stats():
    torch.set_num_threads(1)
    store = {}; spies = [BufferSpy(4, store), BufferSpy(6, store)]
    cb = cream(meta_every=1)
    t = Trainer(*build(), callbacks=[cb, *spies], progress=False).fit()
    assert cb.n_meta >= 5 and spies[1].checked == 2 * t.step   # meta-updates, scoring and teachers ran between the spies

def test_pinas_teacher_leaves_bn_stats_and_moves_only_used_params():
    torch.set_num_threads(1)
    class EmaSpy(Callback):
        order = 6
        def __init__(self): self.n = 0
        def before_step(self):
            pc = self.cross_path_consistency
            self.before = {k: v.clone() for k, v in pc.ema.state_dict().items()}
        def after_step(self):
            pc, model = self.cross_path_consistency, self.model
            used = {n for n, p in model.named_parameters() if p.grad is not None}
            assert 0 < len(used) < len(list(model.parameters())) and pc.n_moved == len(used)
            for n, e in pc.ema.named_parameters():
                if n in used: torch.testing.assert_close(e, self.before[n].lerp(model.get_parameter(n).detach(), 1 - pc.momentum))
                else: assert torch.equal(e, self.before[n]), n
            for n, v in pc.ema.named_buffers(): assert torch.equal(v, self.before[n]), n
            self.n += 1
    model, s, b, cfg = build('mixpath')
    pc, spy = CrossPathConsistency(rep='logits'), EmaSpy()
    t = Trainer(model, s, b, cfg, callbacks=[pc, spy], progress=False).fit()
    assert spy.n == t.step
    # the mean teacher's forwards (path b's student forward is a trained path and does move its BNs): no supernet buffer moves
    xb, yb = next(iter(b)); t.xb, t.yb = xb, yb
    pc.before_fit()
    bufs = {k: v.clone() for k, v in model.named_buffers()}
    t.arch = t.sampler.sample(); pc.before_step(); pc._forward('teacher', t.arch); pc._forward('teacher', pc.arch_b)
    for k, v in model.named_buffers(): assert torch.equal(v, bufs[k]), k
    pc.cleanup_fit(); assert t.sampler is s

# ---------------------------------------------------------------- exact resume
class StopAfterFirstEpoch(Callback):
    order = 99
    def after_epoch(self):
        if self.epoch == 0: raise CancelFitException()

class Crash(Callback):
    "A killed process: dies in the middle of epoch 2 (last checkpoint: after 2 epochs)."
    def before_step(self):
        if self.step == 8: raise KeyboardInterrupt('killed')

def regime_state(t, regime):
    cb = t.prioritized_board if regime == 'cream' else t.cross_path_consistency
    return cb.state_dict()

def assert_same_state(a, b):
    if isinstance(a, torch.Tensor): assert torch.equal(a, b); return
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a: assert_same_state(a[k], b[k])
        return
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b): assert_same_state(x, y)
        return
    assert a == b, (a, b)

@pytest.mark.parametrize('regime', sorted(REGIMES))
@pytest.mark.parametrize('how', ['stop', 'crash'])
def test_exact_resume(regime, how, tmp_path):
    torch.set_num_threads(1)
    make_cb = REGIMES[regime]
    full = Trainer(*build(), run_dir=tmp_path/'full', callbacks=[make_cb()], progress=False).fit()
    stopper = StopAfterFirstEpoch() if how == 'stop' else Crash()
    if how == 'stop': Trainer(*build(), run_dir=tmp_path/'part', callbacks=[make_cb(), stopper], progress=False).fit()
    else:
        with pytest.raises(KeyboardInterrupt):
            Trainer(*build(), run_dir=tmp_path/'part', callbacks=[make_cb(), stopper], progress=False).fit()
    part = Trainer(*build(), run_dir=tmp_path/'part', callbacks=[make_cb()], progress=False).fit(resume=True)
    assert part.start_epoch == (1 if how == 'stop' else 2) and part.step == full.step == 9
    fs, ps = full.model.state_dict(), part.model.state_dict()
    assert all(torch.equal(fs[k], ps[k]) for k in fs)
    assert_same_state(regime_state(full, regime), regime_state(part, regime))
    assert json.dumps(full.sampler.state_dict(), sort_keys=True) == json.dumps(part.sampler.state_dict(), sort_keys=True)
    assert no_time(full.history) == no_time(part.history) == no_time(RunDir(tmp_path/'part').history())
    kinds = {r['kind'] for r in full.history}
    assert ('board' if regime == 'cream' else 'pinas') in kinds
    if regime == 'cream': assert full.prioritized_board.n_meta >= 3 and len(full.prioritized_board.board) == 3

# ---------------------------------------------------------------- configuration from plain values
def test_make_regime_from_plain_dict():
    params = json.loads(json.dumps({'k': 5, 'margin': 2.0, 'pick': 'top1', 'warmup_epochs': 1.5, 'cost': 'params'}))
    (cb,) = make_regime('cream', **params)
    assert (cb.board.k, cb.board.margin, cb.pick, cb.warmup_epochs, cb.cost) == (5, 2.0, 'top1', 1.5, 'params')
    (pc,) = make_regime('pinas', **{'consistency': 'kl', 'rep': 'logits', 'weight': 0.3, 'queue_size': None})
    assert (pc.consistency, pc.rep, pc.weight, pc.queue_size) == ('kl', 'logits', 0.3, 1024)
    assert make_regime('none') == [] and set(regime_params('cream')) >= {'k', 'margin', 'warmup_epochs', 'pick', 'cost'}
    with pytest.raises(MixpathError, match='unknown regime'): make_regime('darts')
    with pytest.raises(MixpathError, match="takes no \\['momentun'\\]"): make_regime('pinas', momentun=0.9)
    with pytest.raises(MixpathError, match='bad slice'): make_regime('cream', slice=0)

def test_warmup_in_epochs():
    torch.set_num_threads(1)
    cb = PrioritizedBoard(k=3, warmup_epochs=2, cost='params', meta_every=0)
    t = Trainer(*build(), callbacks=[cb], progress=False).fit()
    assert cb.start_step == 6 and min(e.step for e in cb.board.entries) >= 6
    boards = [r for r in t.history if r['kind'] == 'board']
    assert boards and min(r['step'] for r in boards) >= 6

# ---------------------------------------------------------------- two ranks under torchrun (gloo)
DDP_WORKER = '''
import json, sys, torch
from mixpath_lab.data import Batches
from mixpath_lab.regimes import make_regime
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Trainer, TrainConfig, init_distributed
torch.set_num_threads(1)
rank, ws = init_distributed()
out = {}
for name, kw in [('cream', dict(k=3, warmup_steps=1, meta_every=1, cost='params', meta_lr=0.5)),
                 ('pinas', dict(consistency='infonce', queue_size=40))]:
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (64,), generator=g)
    torch.manual_seed(0); space = tiny(); model = Supernet(space, 'sbn')
    (cb,) = make_regime(name, **kw)
    t = Trainer(model, make_sampler('mixpath', space, 0), Batches(X, Y, 32, seed=0, rank=rank, world_size=ws),
                TrainConfig(epochs=2, batch_size=32, log_every=1), callbacks=[cb], progress=False).fit()
    sd = cb.state_dict()
    out[name] = dict(params=[float(p.double().sum()) for p in model.parameters()],
                     losses=[r['loss'] for r in t.history if r['kind'] == 'train'],
                     board=[(e['arch'], e['acc']) for e in sd['entries']] if name == 'cream' else None,
                     net=[float(v.double().sum()) for v in sd['net'].values()] if name == 'cream' else None,
                     n_meta=sd.get('n_meta'), ema=[float(v.double().sum()) for v in sd['ema'].values()] if name == 'pinas' else None,
                     queue=float(sd['queue'].double().sum()) if name == 'pinas' else None)
open(sys.argv[1] + f'/rank{rank}.json', 'w').write(json.dumps(out))
'''

def run_two_ranks(worker_src: str, tmp_path) -> tuple[dict, dict]:
    "Run `worker_src` under torchrun with 2 gloo ranks (1 thread each); each rank writes rank{i}.json into tmp_path."
    import os, subprocess, sys
    from pathlib import Path
    (tmp_path/'worker.py').write_text(worker_src)
    env = {**os.environ, 'OMP_NUM_THREADS': '1',
           'PYTHONPATH': os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), os.environ.get('PYTHONPATH')]))}
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone',
                        str(tmp_path/'worker.py'), str(tmp_path)], env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return tuple(json.loads((tmp_path/f'rank{i}.json').read_text()) for i in (0, 1))

def test_two_ranks_agree(tmp_path):
    "Under torchrun both ranks keep the same board, teacher choices, matching network, EMA teacher and queue."
    a, b = run_two_ranks(DDP_WORKER, tmp_path)
    assert a == b
    assert len(a['cream']['board']) == 3 and a['cream']['n_meta'] >= 2 and all(math.isfinite(x) for x in a['pinas']['losses'])


RESUME_WORKER = '''
import json, sys, torch
from pathlib import Path
from mixpath_lab.data import Batches
from mixpath_lab.regimes import make_regime
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Callback, CancelFitException, Trainer, TrainConfig, init_distributed
torch.set_num_threads(1)
rank, ws = init_distributed()
out = Path(sys.argv[1])
class Stop(Callback):
    order = 99
    def after_epoch(self):
        if self.epoch == 0: raise CancelFitException()
def run(run_dir, extra=(), resume=False):
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randint(0, 256, (96, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (96,), generator=g)
    torch.manual_seed(0); space = tiny(); model = Supernet(space, 'sbn')
    cbs = make_regime('cream', k=3, warmup_steps=1, meta_every=2, cost='params', meta_lr=0.5)
    return Trainer(model, make_sampler('mixpath', space, 0), Batches(X, Y, 32, seed=0, rank=rank, world_size=ws),
                   TrainConfig(epochs=2, batch_size=32, log_every=1, ckpt_every=1), callbacks=[*cbs, *extra],
                   run_dir=run_dir, progress=False).fit(resume=resume)
full = run(out/'full')
run(out/'part', [Stop()]); part = run(out/'part', resume=True)
def board(t): return [(e.arch, e.acc, e.x.double().sum().item(), e.probs.double().sum().item()) for e in t.prioritized_board.board.entries]
res = dict(start=part.start_epoch, same_params=all(torch.equal(a, b) for a, b in zip(full.model.parameters(), part.model.parameters())),
           board_full=board(full), board_part=board(part), params=[float(p.double().sum()) for p in full.model.parameters()])
(out/f'rank{rank}.json').write_text(json.dumps(res))
'''

def test_two_ranks_resume(tmp_path):
    "Cream under torchrun: stopping after epoch 1 and resuming gives every rank the uninterrupted run (weights and its own board images)."
    a, b = run_two_ranks(RESUME_WORKER, tmp_path)
    for x in (a, b):
        assert x['start'] == 1 and x['same_params'] and x['board_full'] == x['board_part'] and len(x['board_full']) == 3
    assert a['params'] == b['params']
    assert [e[2] for e in a['board_full']] != [e[2] for e in b['board_full']]   # the ranks' stored images really differ

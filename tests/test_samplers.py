"Samplers: determinism, validity, exact resume (JSON and torch.save), and the distributions by chi-square tests."
import io, itertools, json, math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from mixpath_lab.core import MixpathError
from mixpath_lab.samplers import SAMPLERS, FairSampler, IndependentSampler, make_sampler
from mixpath_lab.spaces import Choice, layerwise, mixpath_s1, nb201, tiny

torch.set_num_threads(1)
ALPHA = 1e-3   # fixed seeds make every test deterministic; this only guards the choice of seeds against flukes


def mixed_space():
    "User-defined: layers of different widths (3, 5, 2 ops), min_paths 0 allowed, variants on one layer."
    return layerwise([dict(c_in=8, c_out=8, ops=['a', 'b', 'c'], m=2, min_paths=0),
                      dict(c_in=8, c_out=16, stride=2, ops=['p', 'q', 'r', 's', 't'], m=3, variants=('x', 'y')),
                      dict(c_in=16, c_out=16, ops=['u', 'v'], m=1)], stem_width=8, name='mixed')


SPACES = {'tiny2': lambda: tiny(2), 'tiny1': lambda: tiny(1), 's1_m4': lambda: mixpath_s1(4), 'nb201': nb201,
          'mixed': mixed_space}


def cost_of(space):
    "A stand-in cost (no cost model): sum over layers of (k + variant + sum of path indices)."
    return lambda a: float(sum(c.k + c.variant + sum(c.paths) for c in a))


def kwargs_for(name, space):
    if name != 'flops_binned': return {}
    f = cost_of(space); cs = [f(space.sample(i)) for i in range(300)]
    return dict(cost_fn=f, cost_range=tuple(np.percentile(cs, [10, 90])), n_bins=4)


def nb201_only(name): return name.startswith('nb201_')   # samplers over NAS-Bench-201's cell list


CASES = [(n, s) for n in sorted(SAMPLERS) for s in SPACES if not nb201_only(n) or s == 'nb201']


@pytest.mark.parametrize('name,space_name', CASES)
def test_valid_deterministic_and_counted(name, space_name):
    space = SPACES[space_name](); kw = kwargs_for(name, space)
    s1, s2 = make_sampler(name, space, 3, **kw), make_sampler(name, space, np.random.default_rng(3), **kw)
    a1 = [s1.sample() for _ in range(150)]; a2 = [s2.sample() for _ in range(150)]
    assert a1 == a2                                            # a seed and a generator of that seed agree
    assert a1 != [make_sampler(name, space, 4, **kw).sample() for _ in range(150)]
    assert all(space.contains(a) for a in a1)
    if name in ('spos', 'fair') or nb201_only(name): assert all(set(a.ks) == {1} for a in a1)
    pairs = [s1.sample_pair() for _ in range(40)]
    for a, b in pairs:
        assert space.contains(a) and space.contains(b) and all(x != y for x, y in zip(a, b))
    drawn = a1 + [x for p in pairs for x in p]
    assert s1.n_sampled == len(drawn)
    for i, c in enumerate(s1.counts):                          # counters match a recount of what was drawn
        assert c['k'] == [sum(a[i].k == k for a in drawn) for k in range(space.points[i].m + 1)]
        assert c['paths'] == [sum(j in a[i].paths for a in drawn) for j in range(space.points[i].n)]
        assert c['variants'] == [sum(a[i].variant == v for a in drawn) for v in range(len(space.points[i].variants))]
        assert sum(map(sum, c['joint'])) == sum(c['paths'])
    cov = s1.coverage(); assert json.loads(json.dumps(cov)) == cov and cov['n'] == len(drawn)


@pytest.mark.parametrize('name,space_name', CASES)
def test_resume_is_exact(name, space_name):
    space = SPACES[space_name](); kw = kwargs_for(name, space)
    s = make_sampler(name, space, 21, **kw)
    for i in range(37): s.sample() if i % 3 else s.sample_pair()   # stop mid-round for 'fair'
    sd = s.state_dict()
    buf = io.BytesIO(); torch.save(sd, buf); buf.seek(0)
    via_torch = torch.load(buf, weights_only=True)
    via_json = json.loads(json.dumps(sd))
    ref = [s.sample() if i % 4 else s.sample_pair() for i in range(60)]
    for st in (via_torch, via_json):
        r = make_sampler(name, space, 12345, **kw); r.load_state_dict(st)
        assert [r.sample() if i % 4 else r.sample_pair() for i in range(60)] == ref
        assert r.counts == s.counts and r.state_dict() == s.state_dict()


@pytest.mark.parametrize('name', sorted(SAMPLERS))
def test_refuses_foreign_state(name):
    if nb201_only(name):   # built on NAS-Bench-201 only; any other space is refused up front
        with pytest.raises(MixpathError, match='needs the nb201 space'): make_sampler(name, tiny(2), 0)
        with pytest.raises(MixpathError, match='build the sampler the run was saved with'):
            make_sampler(name, nb201(), 0).load_state_dict(make_sampler('spos', nb201(), 0).state_dict())
        return
    space = tiny(2); kw = kwargs_for(name, space)
    other = 'mixpath' if name != 'mixpath' else 'spos'
    with pytest.raises(MixpathError, match='build the sampler the run was saved with'):
        make_sampler(name, space, 0, **kw).load_state_dict(make_sampler(other, space, 0).state_dict())
    with pytest.raises(MixpathError, match='layouts must match'):
        make_sampler(name, space, 0, **kw).load_state_dict(make_sampler(name, mixed_space(), 0, **kwargs_for(name, mixed_space())).state_dict())


# ---- distributions -------------------------------------------------------------------------------------------

def one_layer(n=4, m=4, min_paths=1, variants=('',)):
    return layerwise([dict(c_in=8, c_out=8, ops=[f'o{i}' for i in range(n)], m=m, min_paths=min_paths, variants=variants)],
                     stem_width=8, name=f'one_n{n}_m{m}_min{min_paths}_v{len(variants)}')


def gof(counts: Counter, probs: dict, n: int) -> float:
    "Chi-square p-value of observed choice counts against exact probabilities (all options with p > 0)."
    keys = [c for c, p in probs.items() if p > 0]
    assert set(counts) <= set(keys), set(counts) - set(keys)
    return chisquare([counts[c] for c in keys], [probs[c] * n for c in keys]).pvalue


LAYERS = [dict(n=4, m=4), dict(n=4, m=2, variants=('e3', 'e6')), dict(n=3, m=2, min_paths=0), dict(n=5, m=1)]


@pytest.mark.parametrize('name', [n for n, c in SAMPLERS.items() if issubclass(c, IndependentSampler)])
@pytest.mark.parametrize('layer', LAYERS, ids=lambda d: '-'.join(f'{k}{v if k != "variants" else len(v)}' for k, v in d.items()))
def test_independent_distribution_matches_layer_probs(name, layer):
    space = one_layer(**layer); s = make_sampler(name, space, 7); N = 12_000
    cnt = Counter(s.sample()[0] for _ in range(N))
    probs = s.layer_probs(0); assert math.isclose(sum(probs.values()), 1.0)
    assert gof(cnt, probs, N) > ALPHA
    wrong = {c: 1 / len(probs) for c in probs} if name == 'mixpath' else {c: 2 * p if i < 2 else p for i, (c, p) in enumerate(probs.items())}
    z = sum(wrong.values()); wrong = {c: p / z for c, p in wrong.items()}
    if max(abs(wrong[c] - probs[c]) for c in probs) > 0.01: assert gof(cnt, wrong, N) < 1e-6   # the test has power


def test_spos_uniform_over_ops_on_nb201():
    s = make_sampler('spos', nb201(), 1); N = 5000
    [s.sample() for _ in range(N)]
    for c in s.counts: assert chisquare(c['paths']).pvalue > ALPHA and c['k'] == [0, N]


def test_mixpath_uniform_over_k_then_sets():
    space = one_layer(4, 4); s = make_sampler('mixpath', space, 2); N = 20_000
    archs = [s.sample()[0] for _ in range(N)]
    assert chisquare(s.counts[0]['k'][1:]).pvalue > ALPHA
    for k in range(1, 5):
        cnt = Counter(a.paths for a in archs if a.k == k)
        assert len(cnt) == math.comb(4, k) and (k == 4 or chisquare(list(cnt.values())).pvalue > ALPHA)
    # the MixPath sampler: a specific pair has probability 1/24, the full set 1/4
    for paths, q in (((1, 3), 1 / 24), ((0, 1, 2, 3), 1 / 4)):
        f = sum(a.paths == paths for a in archs) / N
        assert abs(f - q) < 4 * math.sqrt(q * (1 - q) / N), (paths, f, q)
        assert math.isclose(s.layer_probs(0)[Choice(0, paths)], q)


def test_uniform_sets_over_s1_layer_options():
    space = mixpath_s1(4); s = make_sampler('uniform_sets', space, 5); N = 6000
    cnt = Counter(a[3] for a in (s.sample() for _ in range(N)))
    assert len(cnt) == 30 and chisquare(list(cnt.values())).pvalue > ALPHA


@pytest.mark.parametrize('name', ['spos', 'uniform_sets', 'mixpath'])
def test_pair_marginals(name):
    "Pairs: p(x)p(y) on x != y, so each side's marginal is p(1-p)/(1-sum p^2): exactly p for uniform samplers."
    space = one_layer(4, 2); s = make_sampler(name, space, 9); N = 10_000
    pairs = [s.sample_pair() for _ in range(N)]
    p = s.layer_probs(0); z = 1 - sum(v * v for v in p.values())
    marg = {c: v * (1 - v) / z for c, v in p.items()}
    if name != 'mixpath': assert all(math.isclose(marg[c], p[c]) for c in p)
    for side in (0, 1):
        assert gof(Counter(pr[side][0] for pr in pairs), marg, N) > ALPHA
    assert all(a[0] != b[0] for a, b in pairs)


def test_fair_exact_rounds_with_mixed_singles_and_pairs():
    space = mixed_space(); s = make_sampler('fair', space, 0)
    L = s.round_lengths; assert L == [3, 10, 2] and s.round_length == 30
    rng, used = np.random.default_rng(1), 0
    for _ in range(400):
        if rng.random() < 0.5: s.sample(); used += 1
        else: s.sample_pair(); used += 2
        for i, c in enumerate(s.counts):                       # each layer is exact at the end of each of its rounds
            if used % L[i] == 0:
                assert len({x for row in c['joint'] for x in row}) == 1 and c['joint'][0][0] == used // L[i], (i, used, c)


def test_fair_rounds_are_random_permutations():
    "The first slot of each round is uniform, and rounds are not repeated."
    s = make_sampler('fair', one_layer(5, 1), 3); firsts, rounds = [], []
    for _ in range(3000):
        r = [s.sample()[0].paths[0] for _ in range(5)]
        assert sorted(r) == list(range(5)); firsts.append(r[0]); rounds.append(tuple(r))
    assert chisquare(np.bincount(firsts, minlength=5)).pvalue > ALPHA
    assert chisquare(list(Counter(rounds).values()) + [0] * (120 - len(set(rounds)))).pvalue > ALPHA   # 5! orders alike


def test_flops_binned_uniform_over_bins_and_uniform_within():
    space = one_layer(5, 3); cost = lambda a: float(sum(a[0].paths) + a[0].k)   # costs 1..12
    s = make_sampler('flops_binned', space, 4, cost_fn=cost, cost_range=(2, 11), n_bins=3); N = 6000
    archs = [s.sample() for _ in range(N)]
    assert chisquare(s.bin_counts).pvalue > ALPHA and sum(s.bin_counts) == N
    opts = list(space.points[0].options())
    for b in range(3):                                          # given its bin, an arch is uniform over the bin's archs
        inbin = [c for c in opts if s.bin_of(cost([c])) == b]
        cnt = Counter(a[0] for a in archs if s.bin_of(cost(a)) == b)
        assert set(cnt) == set(inbin) and chisquare([cnt[c] for c in inbin]).pvalue > ALPHA
    assert s.tries > N


def test_flops_binned_unreachable_bin_and_range():
    space = one_layer(4, 2); cost = lambda a: float(a[0].k)   # costs are 1 or 2 only
    s = make_sampler('flops_binned', space, 0, cost_fn=cost, cost_range=(0, 4), n_bins=4, max_tries=50)
    with pytest.raises(MixpathError, match=r'bin \d .* after 50 tries'):
        for _ in range(100): s.sample()
    for bad in (dict(cost_range=(3, 1)), dict(cost_range=(0, float('inf'))), dict(cost_range=(0, 1), n_bins=0)):
        with pytest.raises(MixpathError, match='finite lo < hi'): make_sampler('flops_binned', space, 0, **{'cost_fn': cost, 'cost_range': (0, 1), **bad})


def test_make_sampler_errors():
    with pytest.raises(MixpathError, match='choose one of ' + ', '.join(sorted(SAMPLERS))): make_sampler('nope', tiny(), 0)
    with pytest.raises(MixpathError, match='numpy.random.Generator'): make_sampler('spos', tiny(), None)
    assert isinstance(make_sampler('fair', tiny(), 0), FairSampler)

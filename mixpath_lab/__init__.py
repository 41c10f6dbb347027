__version__ = "0.1.0"
# mixpath_lab: one-shot NAS in multi-path search spaces (MixPath, Shadow BN, SPOS, Cream, Pi-NAS).
# This file is the only hand-written one in the package (the modules are exported from nbs/).
# `import mixpath_lab as ml` is cheap: submodules and the main names load on first use.
import importlib as _importlib

_SUBMODULES = ('core', 'data', 'benchmarks', 'ops', 'spaces', 'sbn', 'supernet', 'nb201net', 'cost', 'samplers',
               'train', 'evaluate', 'ranking', 'groundtruth', 'search', 'stats', 'dash', 'experiment', 'cli', 'batch',
               'regimes', 'zerocost', 'executor', 'fewshot', 'proxytruth', 'levers', 'nb101', 'released', 'presets',
               'arms', 'tracker', 'run', 'report', 'rundir', 'figures')
_NAMES = {
    'MixpathError': 'core', 'RunDir': 'core', 'Arch': 'spaces', 'Choice': 'spaces', 'LayerSpec': 'spaces',
    'layerwise': 'spaces', 'mixpath_s1': 'spaces', 'nb201': 'spaces', 'tiny': 'spaces', 'Supernet': 'supernet',
    'PostSumNorm': 'sbn', 'register_op': 'ops', 'CostModel': 'cost', 'make_sampler': 'samplers', 'Trainer': 'train',
    'TrainConfig': 'train', 'Callback': 'train', 'Evaluator': 'evaluate', 'rank_report': 'ranking',
    'RankReport': 'ranking', 'NB201': 'benchmarks', 'Benchmark': 'benchmarks', 'TableBenchmark': 'benchmarks',
    'FeatureStats': 'stats', 'RankingConfig': 'experiment',
    'run_ranking': 'run', 'make_regime': 'regimes', 'Batches': 'data', 'load_cifar10': 'data'}

def __getattr__(name):
    if name in _SUBMODULES: return _importlib.import_module(f'{__name__}.{name}')
    if name in _NAMES: return getattr(_importlib.import_module(f'{__name__}.{_NAMES[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')

def __dir__(): return sorted([*globals(), *_SUBMODULES, *_NAMES])

"""Every experiment notebook in nbs/runs/ runs headless (papermill, `smoke=True`) and leaves its results; bad parameters fail first; sweeps."""
from __future__ import annotations
import json, sys
import numpy as np
import pandas as pd
import pytest
from conftest import CHROMIUM, RUNS, runs_notebooks
from mixpath_lab.batch import notebook_parameters, run_notebook, sweep
from mixpath_lab.core import MixpathError

pytestmark = pytest.mark.timeout(300)

# The rules every notebook in nbs/runs/ follows: `smoke` and `run_dir` parameters (flat values, one `parameters` cell); a
# smoke run finishes in well under a minute on CPU; it writes `run_dir/summary.json` (with `seconds`) and its figures as
# standalone HTML in `run_dir/figures/` (and PNG when Chromium is installed).
# What each notebook's summary.json must hold beyond the keys every runs notebook writes (`COMMON_KEYS`), and how many
# static plotly figures its executed copy must show. A notebook not listed here only has to meet the common rules.
COMMON_KEYS = {'seconds'}
EXPECT = {
    'dashboard': dict(keys={'norm', 'seed', 'steps', 'final_loss', 'final_acc', 'n_archs', 'kendall', 'spearman', 'ranking', 'figures'},
                      n_static=8),
}
NOTEBOOKS = [pytest.param(p, id=p.stem) for p in runs_notebooks()]


@pytest.fixture(autouse=True)
def _env(kernel_environ, monkeypatch):
    "Kernels import the tests' mixpath_lab; `run_notebook` itself makes them headless (checked below)."
    monkeypatch.delenv('MIXPATH_HEADLESS', raising=False)


def test_runs_folder():
    assert (RUNS/'.notest').exists(), 'nbs/runs/.notest keeps nbdev_test away from the experiment notebooks'
    assert (RUNS/'dashboard.ipynb').exists()


def test_kernel_is_this_python():
    "papermill and JupyterLab start the `python3` kernelspec; jupyter_client runs it with this interpreter (the venv's)."
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    spec = KernelSpecManager().get_kernel_spec('python3')
    km = KernelManager(kernel_name='python3')
    cmd = km.format_kernel_cmd()
    assert cmd[0] == sys.executable, (spec.resource_dir, spec.argv, cmd)


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]


@pytest.mark.parametrize('nb_path', NOTEBOOKS)
def test_runs_notebook(nb_path, tmp_path):
    "Run the notebook with smoke=True into a fresh run directory; check the executed copy, summary and figures."
    params = notebook_parameters(nb_path)
    assert 'smoke' in params and 'run_dir' in params, f'{nb_path.name}: every runs notebook takes `smoke` and `run_dir` parameters'
    run_dir = tmp_path/'run'
    rec = run_notebook(nb_path, run_dir, {'smoke': True}, timeout=240)
    exp = EXPECT.get(nb_path.stem, {})
    out_nb = run_dir/'notebook.ipynb'
    assert out_nb.exists()
    nb = json.loads(out_nb.read_text())
    assert not [o for o in _outputs(nb) if o['output_type'] == 'error']
    assert not [o for o in _outputs(nb) if 'application/vnd.jupyter.widget-view+json' in o.get('data', {})], \
        'a papermill run drew live widgets (nobody watches them; their saved state is not stored): it must run headless'
    injected = [c for c in nb['cells'] if 'injected-parameters' in c['metadata'].get('tags', [])]
    assert len(injected) == 1 and 'smoke = True' in ''.join(injected[0]['source'])
    summary = json.loads((run_dir/'summary.json').read_text())
    want = COMMON_KEYS | exp.get('keys', set())
    assert want <= set(summary), f'summary.json lacks {sorted(want - set(summary))}'
    assert rec['smoke'] is True and rec['run_dir'] == str(run_dir)
    html = sorted((run_dir/'figures').glob('*.html'))
    assert html, f'{nb_path.name} wrote no HTML figures into {run_dir/"figures"}'
    assert all('src="../plotly.min.js"' in p.read_text() for p in html)     # offline: the run's one plotly.js
    assert (run_dir/'plotly.min.js').stat().st_size > 1_000_000
    if CHROMIUM.exists():   # kaleido renders PNGs with it
        png = sorted((run_dir/'figures').glob('*.png'))
        assert {p.stem for p in html} <= {p.stem for p in png}, 'Chromium is installed but some figures have no PNG'
        for p in png: assert p.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and p.stat().st_size > 5_000
    if 'n_static' in exp:   # the executed copy ends with static figures that render when reopened
        plotly = [o for o in _outputs(nb) if 'application/vnd.plotly.v1+json' in o.get('data', {})]
        assert len(plotly) == exp['n_static']
        assert all(o['data']['application/vnd.plotly.v1+json']['data'] for o in plotly)
    if 'figures' in summary: assert sorted(summary['figures']) == sorted(p.name for p in (run_dir/'figures').iterdir())


@pytest.mark.parametrize('nb_path', NOTEBOOKS)
def test_bad_parameter_fails_first(nb_path, tmp_path):
    "A misspelt or mistyped parameter fails before any kernel starts, naming the parameter; nothing is written."
    with pytest.raises(MixpathError, match=r"no parameter 'epochz'; its parameters are: .*smoke"):
        run_notebook(nb_path, tmp_path/'bad', {'smoke': True, 'epochz': 3})
    with pytest.raises(MixpathError, match=r"parameter 'smoke' must be bool"):
        run_notebook(nb_path, tmp_path/'bad', {'smoke': 'yes'})
    assert not (tmp_path/'bad').exists()
    with pytest.raises(MixpathError, match="no parameter 'epochz'"):
        sweep(nb_path, {'epochz': [1, 2]}, tmp_path/'sweep', fixed={'smoke': True}, progress=False)
    assert not (tmp_path/'sweep').exists()


def test_sweep_two_points(tmp_path):
    "A 2-point sweep of the dashboard notebook (Shadow BN vs one BN, 1 epoch) writes a run directory per point and summary.csv."
    root = tmp_path/'sweep'
    df = sweep(RUNS/'dashboard.ipynb', {'norm': ['sbn', 'bn']}, root, fixed={'smoke': True, 'png': False, 'epochs': 1}, progress=False)
    table = pd.read_csv(root/'summary.csv')
    assert list(table.status) == ['ok', 'ok'], table.get('error')
    assert list(table.norm) == ['sbn', 'bn'] and len(df) == 2
    dirs = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert dirs == ['000_norm=sbn', '001_norm=bn']
    for d, norm in zip(dirs, ['sbn', 'bn']):
        s = json.loads((root/d/'summary.json').read_text())
        assert s['norm'] == norm and s['epochs'] == 1 and s['steps'] == 3        # smoke caps steps per epoch at 3
        assert 1.0 < s['final_loss'] < 4.0 and 0 <= s['final_acc'] <= 1         # ~ln(10) after 3 steps
        assert [r['epoch'] for r in s['ranking']] == [1] and -1 <= s['kendall'] <= 1 and -1 <= s['spearman'] <= 1
        assert not list((root/d).rglob('*.png')) and (root/d/'figures'/'ranking_scatter.html').exists()   # png=False
        cfg = json.loads((root/d/'train'/'config.json').read_text())
        assert cfg['model']['norm'] == norm
    assert table.kendall.between(-1, 1).all() and (table.steps == 3).all()


def _static_traces(nb: dict) -> list[list[dict]]:
    "The traces of each static plotly figure in an executed notebook."
    return [o['data']['application/vnd.plotly.v1+json']['data'] for o in _outputs(nb)
            if 'application/vnd.plotly.v1+json' in o.get('data', {})]


@pytest.mark.parametrize('space, m, truth', [('nb101', 4, 'nb101_truth.csv'),
                                              ('mixpath_bench', 3, 'mixpath_bench_truth.csv'), ('tiny', 2, None)])
def test_dashboard_multipath_space(space, m, truth, tmp_path):
    """The dashboard notebook on a multi-path space: magnitude and cosine for every k = 1..m, a shadow BN per k; nb101
    and mixpath_bench rank against their shipped truth, tiny (no truth) skips the ranking and says so."""
    run_dir = tmp_path/'run'
    run_notebook(RUNS/'dashboard.ipynb', run_dir, {'smoke': True, 'png': False, 'space': space}, timeout=240)
    s = json.loads((run_dir/'summary.json').read_text())
    assert EXPECT['dashboard']['keys'] <= set(s)
    assert s['space'] == space and s['space_name'].startswith(space) and s['sampler'] == 'mixpath'
    assert s['steps'] == 6 and 1.0 < s['final_loss'] < 4.0 and s['truth_table'] == truth
    figs = ['features_heatmap', 'features_trend', 'sbn_channels', 'sbn_summary', 'training_coverage', 'training_curves']
    if truth:
        figs += ['ranking_correlation', 'ranking_scatter']
        assert s['n_archs'] == 6 and [r['epoch'] for r in s['ranking']] == [1, 2] and -1 <= s['kendall'] <= 1
    else: assert s['n_archs'] == 0 and s['ranking'] == [] and s['kendall'] is None
    assert sorted(s['figures']) == sorted(f'{f}.html' for f in figs)
    nb = json.loads((run_dir/'notebook.ipynb').read_text())
    assert not [o for o in _outputs(nb) if o['output_type'] == 'error']
    text = ''.join(''.join(o.get('text', '')) for o in _outputs(nb) if o['output_type'] == 'stream')
    assert ('no live ranking' in text) == (truth is None), text
    traces = _static_traces(nb)
    assert len(traces) == len(figs)
    heat = [t for f in traces for t in f if t['type'] == 'heatmap' and 'k=%{x}' in t.get('hovertemplate', '')]
    assert len(heat) == 1 and heat[0]['x'] == list(range(1, m + 1))     # the feature heatmap's k axis: 1..m
    z = np.array(heat[0]['z'], float)
    assert z.shape[1] == m and z.shape[0] >= 3 and np.isfinite(z).all() and np.allclose(z[:, 0], 1.0) and (z[:, -1] > 1.2).all(), z
    bars = [t for f in traces for t in f if t['type'] == 'bar']            # shadow BN statistics: 3 bars per k
    assert [t['name'] for t in bars[::3]] == [f'k={k}' for k in range(1, m + 1)]
    assert np.isfinite(np.array([t['y'] for t in bars], float)).all()


def test_dashboard_bad_space_fails_in_one_line(tmp_path):
    "A space that does not build stops the dashboard notebook before any data or training, with a one-line error."
    with pytest.raises(MixpathError, match=r"failed in cell \d+ \(MixpathError: space_kwargs=\{'m': 2\}: nb201 takes none"):
        run_notebook(RUNS/'dashboard.ipynb', tmp_path/'run', {'smoke': True, 'space_kwargs': {'m': 2}}, timeout=120)
    assert not (tmp_path/'run'/'summary.json').exists()


def test_ranking_notebook_on_a_multipath_space(tmp_path):
    "The ranking notebook on mixpath_bench: the shipped table is the truth, MixPath sampling, the archs are its own."
    run_dir = tmp_path/'run'
    run_notebook(RUNS/'ranking.ipynb', run_dir, {'smoke': True, 'space': 'mixpath_bench',
                                                 'space_kwargs': {'m': 2, 'width': 4}}, timeout=240)
    s = json.loads((run_dir/'summary.json').read_text())
    cfg = s['config']
    assert cfg['space'] == 'mixpath_bench' and cfg['sampler'] == 'mixpath' and cfg['truth'].endswith('mixpath_bench_truth.csv')
    assert s['n_cells'] == 8 and {'sbn', 'bn'} <= set(s['kendall'])
    cells = pd.read_csv(run_dir/'cells.csv')
    assert all(max(len(p.split('+')) for p in a.split('|')) <= 2 for a in cells.arch)   # archs of m = 2 only

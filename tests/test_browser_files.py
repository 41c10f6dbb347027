"""A real browser (headless Chromium via Playwright) opens a run's HTML files from disk with the network cut off:
the report, its figures and a Pareto front all load the run's one plotly.min.js and draw every figure."""
from __future__ import annotations
import numpy as np, pandas as pd
import plotly.graph_objects as go
import pytest
from conftest import CHROMIUM_ARGS
from mixpath_lab.core import RunDir
from mixpath_lab.dash import export_figures
from mixpath_lab.experiment import write_report
from mixpath_lab.ranking import rank_report

pytestmark = pytest.mark.timeout(180)
FIGS_JS = "() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => (gd.data || []).length)"


def _run(root) -> RunDir:
    "A run directory with a report of two rankings (figures exported beside it) and one more figure file."
    rd = RunDir(root, {'what': 'browser files test'})
    rng = np.random.default_rng(0); truth = np.linspace(50, 90, 40)
    pred = {n: truth + rng.normal(0, sd, 40) for n, sd in (('sbn', 3), ('bn', 9))}
    reports = {n: rank_report(v, truth, n_boot=20, name=n) for n, v in pred.items()}
    table = pd.DataFrame({'arch': [f'cell{i}' for i in range(40)], 'truth': truth, **pred})
    res = {'table': table, 'reports': reports, 'comparison': pd.DataFrame({'kendall': [0.8, 0.4]}, index=['sbn', 'bn']),
           'summary': {'n_cells': 40, 'run_dir': str(rd.path), 'seconds': 1.0},
           'histories': {'sbn': [{'kind': 'train', 'step': i, 'loss': 2.3 - i / 10} for i in range(10)]}}
    write_report(res, rd.file('report.html'), figures_dir=rd.path/'figures')
    export_figures({'extra': go.Figure(go.Bar(x=['a', 'b'], y=[1, 2]))}, rd.path/'figures', formats=('html',))
    return rd


def test_run_html_opens_offline(chromium, tmp_path):
    from playwright.sync_api import sync_playwright
    rd = _run(tmp_path/'run')
    pages = ['report.html'] + [f'figures/{n}.html' for n in ('rank_correlation', 'scatter', 'train_loss', 'extra')]
    assert sorted(p.name for p in rd.path.rglob('*.js')) == ['plotly.min.js']
    total = sum(p.stat().st_size for p in rd.path.rglob('*.html')) + (rd.path/'plotly.min.js').stat().st_size
    assert total < 2 * (rd.path/'plotly.min.js').stat().st_size, total    # one copy of plotly.js, not one per file
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            asked = []
            page.route('**/*', lambda route: (asked.append(route.request.url), route.continue_()
                                              if route.request.url.startswith('file://') else route.abort()))
            for rel in pages:
                errors = []; page.on('pageerror', lambda e: errors.append(str(e)))
                page.goto((rd.path/rel).as_uri(), wait_until='load')
                page.wait_for_function('() => window.Plotly && document.querySelectorAll(".js-plotly-plot").length > 0',
                                       timeout=30_000)
                n = page.evaluate(FIGS_JS)
                assert n and all(k > 0 for k in n) and not errors, (rel, n, errors)
                if rel == 'report.html': assert len(n) == 3, n      # loss curve, correlation bars, scatter
            assert not [u for u in asked if not u.startswith('file://')], 'a page asked the network for something'
        finally: browser.close()

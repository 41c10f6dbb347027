"""mixpath_lab.dash across processes: headless runs export offline HTML and PNG (kaleido driving Debian's
chromium), a missing browser never stops training, and the live/headless rule inside a real Jupyter kernel."""
import logging, os
from pathlib import Path
import pytest
import torch
import plotly.graph_objects as go
from mixpath_lab.data import Batches
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Trainer, TrainConfig
from mixpath_lab.dash import Dashboard, FeatureStatsDashboard, SBNDashboard, TrainingDashboard, frontend_available

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get('MIXPATH_CHROMIUM', '/usr/bin/chromium'))
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def require_chromium():
    "Skip when chromium is missing (fail instead with MIXPATH_REQUIRE_BROWSER=1)."
    if CHROMIUM.exists(): return
    why = f'{CHROMIUM} not found: PNG export needs Chromium (Debian: apt-get install -y chromium)'
    if os.environ.get('MIXPATH_REQUIRE_BROWSER', '') == '1': pytest.fail(f'MIXPATH_REQUIRE_BROWSER=1 but {why}')
    pytest.skip(why)


def small_run(run_dir, dash, epochs=2):
    "A short real training run on tiny() with `dash` attached."
    torch.set_num_threads(1); torch.manual_seed(0)
    space = tiny()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 256, (96, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (96,), generator=g)
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=0.05, log_every=1)
    return Trainer(Supernet(space, 'sbn'), make_sampler('mixpath', space, 0), Batches(x[:64], y[:64], 16, 0), cfg,
                   callbacks=[dash], run_dir=run_dir, progress=False).fit(), (x[64:], y[64:])


def test_headless_run_exports_html_and_png(tmp_path):
    "Outside a kernel the dashboards are headless; after fit every figure is in run_dir/figures as offline HTML and PNG."
    require_chromium()
    g = torch.Generator().manual_seed(1)
    feat = Batches(torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=g), torch.zeros(16, dtype=torch.long), 16, 1)
    dash = Dashboard(TrainingDashboard(every=2), FeatureStatsDashboard(feat, every=3), SBNDashboard(every=4))
    assert not frontend_available() and not dash.live and all(type(f) is go.Figure for f in dash.figures.values())
    t, _ = small_run(tmp_path/'run', dash)
    figs = tmp_path/'run'/'figures'
    names = sorted(dash.figures)
    assert sorted(p.name for p in figs.glob('*.html')) == [f'{n}.html' for n in names]
    assert sorted(p.name for p in figs.glob('*.png')) == [f'{n}.png' for n in names]
    for n in names:
        png = (figs/f'{n}.png').read_bytes()
        assert png[:8] == PNG_MAGIC and len(png) > 5_000, n       # a real image, not an empty file
        html = (figs/f'{n}.html').read_text()
        assert 'src="https://cdn.plot.ly' not in html and 'src="../plotly.min.js"' in html and len(html) < 1_000_000, n
    assert (tmp_path/'run'/'plotly.min.js').stat().st_size > 1_000_000 and not list(figs.glob('*.js'))   # one copy
    # the curves in the HTML are the run's history
    losses = [r['loss'] for r in t.history if r['kind'] == 'train']
    assert list(dash.parts[0].curves.data[0].y) == losses and len(losses) == 8


def test_missing_browser_warns_and_training_finishes(tmp_path, monkeypatch, caplog):
    "PNG export with no browser to be found: a clear warning, HTML still written, the fit completes."
    monkeypatch.setenv('BROWSER_PATH', str(tmp_path/'no-such-chromium'))
    td = TrainingDashboard(every=3, headless=True)
    with caplog.at_level(logging.WARNING, logger='mixpath_lab.dash'):
        t, _ = small_run(tmp_path/'run', td, epochs=1)
    assert t.step == 4
    figs = tmp_path/'run'/'figures'
    assert sorted(p.name for p in figs.iterdir()) == ['training_coverage.html', 'training_curves.html']
    msgs = [r.getMessage() for r in caplog.records if r.name == 'mixpath_lab.dash']
    assert any('PNG export skipped' in m and 'chromium' in m for m in msgs), msgs
    assert td.exported == [figs/'training_coverage.html', figs/'training_curves.html'][::-1]


KERNEL_CODE = '''
import os
from mixpath_lab.dash import frontend_available, TrainingDashboard, SBNDashboard, Dashboard
import plotly.graph_objects as go
d = TrainingDashboard()
print(frontend_available(), d.live, isinstance(d.curves, go.FigureWidget))
display(Dashboard(d, SBNDashboard()))
os.environ['MIXPATH_HEADLESS'] = '1'
d = TrainingDashboard()
print(frontend_available(), d.live, isinstance(d.curves, go.FigureWidget))
'''

def test_mode_inside_a_jupyter_kernel():
    "In a real ipykernel the dashboards are live (FigureWidgets); MIXPATH_HEADLESS=1 makes them headless there too."
    jc = pytest.importorskip('jupyter_client')
    import mixpath_lab
    env = {k: v for k, v in os.environ.items() if k != 'MIXPATH_HEADLESS'}
    env['PYTHONPATH'] = os.pathsep.join([str(Path(mixpath_lab.__file__).resolve().parents[1]), env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    km, kc = jc.manager.start_new_kernel(kernel_name='python3', env=env, cwd=str(ROOT))
    out, shown = [], []
    def hook(m):
        if m['msg_type'] == 'stream': out.append(m['content'].get('text', ''))
        if m['msg_type'] == 'display_data': shown.append(m['content']['data'])
    try:
        reply = kc.execute_interactive(KERNEL_CODE, timeout=120, output_hook=hook)
        assert reply['content']['status'] == 'ok', reply['content']
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)
    assert ''.join(out).split('\n')[:2] == ['True True True', 'False False False'], out
    # display(dashboard) in a kernel shows one widget view (the Tab holding both dashboards' widgets)
    assert len(shown) == 1 and 'application/vnd.jupyter.widget-view+json' in shown[0], shown

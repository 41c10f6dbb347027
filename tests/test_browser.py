"""A real browser: JupyterLab + headless Chromium (Playwright) run the dashboard notebook; its widgets render and respond."""
from __future__ import annotations
import json, re, shutil, time
from pathlib import Path
import nbformat
import pytest
from conftest import ARTIFACTS, CHROMIUM_ARGS, RUNS, kernel_env

pytestmark = pytest.mark.timeout(420)
SHOTS = ARTIFACTS/'browser'


def _notebook_copy(folder: Path) -> Path:
    "The dashboard notebook with smoke parameters injected (as papermill does), in `folder`."
    import papermill as pm
    nb = pm.iorw.load_notebook_node(str(RUNS/'dashboard.ipynb'))     # papermill's reader (adds empty tags)
    params = {'smoke': True, 'png': False, 'run_dir': str(folder/'run')}
    nb = pm.parameterize.parameterize_notebook(nb, params, report_mode=False)
    path = folder/'dashboard.ipynb'
    nbformat.write(nb, path)
    return path


def _wait(cond, timeout: float, what: str, every: float = 1.0, page=None):
    "Poll `cond()` until truthy (exceptions count as not yet); fail naming `what`, with a screenshot."
    t0, last = time.time(), None
    while time.time() - t0 < timeout:
        try:
            v = cond()
            if v: return v
        except Exception as e: last = e
        time.sleep(every)
    if page is not None:
        SHOTS.mkdir(parents=True, exist_ok=True); page.screenshot(path=str(SHOTS/'failure.png'))
    raise AssertionError(f'timed out after {timeout:.0f}s waiting for {what}' + (f' (last error: {last!r})' if last else ''))


# JS snippets run in the page
CELLS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.filter(c => c.model.type === 'code').map(c => ({
    count: c.model.executionCount,
    prompt: c.node.querySelector('.jp-InputPrompt')?.textContent || '',
    errors: c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)}));
}"""
KERNEL_JS = """() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status ?? 'none'"""
PLOTS_JS = """(cell) => Array.from(cell.querySelectorAll('.js-plotly-plot')).map(
  gd => JSON.stringify((gd.data || []).map(t => [t.x, t.y, t.z])))"""
NTRACES_JS = """(cell) => Array.from(cell.querySelectorAll('.js-plotly-plot')).map(gd => (gd.data || []).length)"""
RERUN_JS = """(src) => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.findIndex(c => c.model.sharedModel.getSource().includes(src));
  return window.jupyterapp.commands.execute('notebook:run-cell');
}"""
TITLES_JS = """(cell) => Array.from(cell.querySelectorAll('.js-plotly-plot')).map(gd => gd.layout?.title?.text ?? '')"""


def _run_all(page):
    "Run > Run All Cells from the menu bar (the command itself if the menu cannot be used)."
    try:
        page.locator('.lm-MenuBar-itemLabel', has_text=re.compile(r'^Run$')).click(timeout=10_000)
        page.locator('.lm-Menu-itemLabel', has_text=re.compile(r'^Run All Cells$')).click(timeout=10_000)
    except Exception:   # under load the menu click can time out after it took effect: never run the cells twice
        page.keyboard.press('Escape'); time.sleep(3)
        if not any(c['count'] or '*' in c['prompt'] for c in page.evaluate(CELLS_JS)):
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def test_dashboard_in_jupyterlab(chromium, lab_server, tmp_path):
    from playwright.sync_api import sync_playwright
    root = tmp_path/'lab'; root.mkdir()
    nb_path = _notebook_copy(root)
    env = kernel_env(); env.pop('MIXPATH_HEADLESS', None)          # live dashboards: a frontend is watching
    server = lab_server(root, env=env, extra_args=['--LabApp.expose_app_in_browser=True'])
    shutil.rmtree(SHOTS, ignore_errors=True); SHOTS.mkdir(parents=True)   # this run's screenshots only
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1000})
            page.set_default_timeout(60_000)
            page.goto(f'{server.url}/lab/tree/{nb_path.name}?token={server.token}', wait_until='domcontentloaded')
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget?.content?.widgets?.length > 0",
                                   timeout=120_000)
            _wait(lambda: page.evaluate(KERNEL_JS) == 'idle', 120, 'the kernel to start', page=page)
            n_code = len(page.evaluate(CELLS_JS))
            t0 = time.time()
            _run_all(page)

            # every code cell executed (a number in its prompt, none queued or running) and the kernel idle, twice in a row
            def done():
                cells = page.evaluate(CELLS_JS)
                errs = [e for c in cells for e in c['errors']]
                assert not errs, f'cell errors in the browser: {errs}'
                return (all(c['count'] for c in cells) and not any('*' in c['prompt'] for c in cells)
                        and page.evaluate(KERNEL_JS) == 'idle')
            _wait(lambda: done() and (time.sleep(2) or done()), 300, 'all cells to run', every=2, page=page)
            run_s = time.time() - t0
            summary = json.loads((root/'run'/'summary.json').read_text())
            assert summary['smoke'] is True and summary['steps'] > 0

            # widgets rendered: the dashboards' controls and FigureWidgets, then the final static figures
            _wait(lambda: page.locator('.jp-OutputArea .widget-dropdown select').count() >= 3, 60, 'the dropdowns to render', page=page)
            _wait(lambda: page.locator('.jp-OutputArea .js-plotly-plot').count() >= 16, 60, '16 plotly figures to render', page=page)
            page.screenshot(path=str(SHOTS/'dashboard_end.png'))
            live = {name: page.locator('.jp-CodeCell', has=page.locator('.jp-InputArea', has_text=f'display({name})')).first
                    for name in ('training', 'features', 'sbn', 'ranking')}
            empty = {}
            for name, cell in live.items():   # every live FigureWidget shows its traces, drawn from the trained supernet
                assert cell.locator('.js-plotly-plot').count() == 2, f'{name}: expected 2 live figures'
                has_traces = lambda: all(n > 0 for n in cell.evaluate(NTRACES_JS))
                try: _wait(has_traces, 20, f'{name} traces')
                except AssertionError:   # the upstream first-render race (see the xfail below): show the same widgets again
                    empty[name] = cell.evaluate(NTRACES_JS)
                    page.evaluate(RERUN_JS, f'display({name})')
                    _wait(has_traces, 60, f'the {name} dashboard figures to show traces after re-running its cell', page=page)

            # respond: another layer in the Shadow-BN dropdown redraws its per-channel figure; the statistic switch of the
            # feature dashboard redraws its heatmap
            def change(cell, what: str, act):
                cell.scroll_into_view_if_needed()
                before = cell.evaluate(PLOTS_JS)
                act()
                _wait(lambda: cell.evaluate(PLOTS_JS) != before, 60, f'a figure to change after {what}', page=page)
                after = cell.evaluate(PLOTS_JS)
                assert len(after) == len(before) and sum(a != b for a, b in zip(after, before)) >= 1
            sel = live['sbn'].locator('.widget-dropdown', has_text='layer').locator('select')
            options = sel.locator('option').all_inner_texts()
            assert len(options) >= 2, f'layer dropdown options {options}'
            selected = lambda: sel.evaluate('s => s.options[s.selectedIndex].text')
            target = next(o for o in options if o != selected())
            change(live['sbn'], f'selecting layer {target}', lambda: sel.select_option(label=target))
            assert selected() == target
            assert target in live['sbn'].evaluate(TITLES_JS)[1]       # the channel figure names the layer
            live['sbn'].screenshot(path=str(SHOTS/'sbn_dashboard.png'))
            button = live['features'].locator('.widget-toggle-buttons button', has_text='cosine')
            change(live['features'], 'switching the statistic to cosine', lambda: button.click())
            assert 'cosine' in live['features'].evaluate(TITLES_JS)[0]
            live['features'].screenshot(path=str(SHOTS/'features_dashboard.png'))
            page.screenshot(path=str(SHOTS/'dashboard.png'))
            print(f'browser: {n_code} code cells ran in {run_s:.1f}s; screenshots in {SHOTS}')
        finally:
            browser.close()
    if empty:   # everything else passed (after showing those dashboards again); only this known upstream race remains
        pytest.xfail(f'live FigureWidgets first rendered without traces in {empty}: plotly 7.1 FigureWidgets created together '
                     '(anywidget 0.11, JupyterLab 4.6) sometimes render empty and miss their later updates, reproducible with '
                     'plain plotly; re-displaying them works')

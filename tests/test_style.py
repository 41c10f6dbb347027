"House style of the generated package: lines of at most 120 characters, methods attached with `@patch` only."
import json, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 120
MODULES = sorted(p for p in (ROOT/'mixpath_lab').glob('*.py') if p.name != '_modidx.py')
NOTEBOOKS = sorted([*(ROOT/'nbs').glob('*.ipynb'), *(ROOT/'nbs'/'runs').glob('*.ipynb')])
ASSIGN = re.compile(r'^[A-Z]\w*\.\w+(, [A-Z]\w*\.\w+)* = ', re.M)

def _long_lines(path: Path) -> list[str]:
    "Lines over WIDTH characters, except the two nbdev writes itself: the module docstring and the `__all__` line."
    out = []
    for i, l in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
        if len(l) > WIDTH and not (i == 1 and l.startswith('"""')) and not l.startswith('__all__ = '):
            out.append(f'{path.name}:{i} ({len(l)})')
    return out

def test_package_lines_fit():
    assert not (long := [l for p in MODULES for l in _long_lines(p)]), f'{len(long)} lines over {WIDTH}: {long[:10]}'

def test_long_line_check_sees_long_lines(tmp_path):
    p = tmp_path/'m.py'
    p.write_text('"""' + 'd' * WIDTH + '"""\n__all__ = [' + "'a', " * 30 + ']\nx = 1\ny = ' + '1 + ' * 40 + '1\n')
    assert _long_lines(p) == [f'm.py:4 ({4 + 4 * 40 + 1})']

@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.name)
def test_methods_attached_with_patch(path):
    src = path.read_text(encoding='utf-8')
    assert not (m := ASSIGN.search(src)), f'{path.name}: method attached by assignment: {m.group(0)!r}; use @patch'
    assert 'patch_to' not in src, f'{path.name}: uses patch_to; use @patch with `self: Cls`'

def test_assignment_pattern_matches_attachments():
    assert ASSIGN.search('Trainer.fit, Trainer._one_step = _fit, _one_step\n')
    assert ASSIGN.search('x = 1\nBaseDashboard.widget = property(_widget)\n')
    assert not ASSIGN.search('    self.a, self.b = 1, 2\nCONST = 3\nfoo.bar = 1\n')

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT/'nbs')))
def test_notebook_lines_fit(nb):
    r = subprocess.run([sys.executable, str(ROOT/'scripts'/'wrap_lines.py'), '--check', str(nb)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def _wrap_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('wrap_lines', ROOT/'scripts'/'wrap_lines.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

def test_wrap_tool_keeps_ast_and_is_idempotent():
    w = _wrap_tool()
    src = ("#| export\n%time x = 1\ndef f(a, b):\n"
           "    if a: return g(" + ', '.join(f'arg{i}' for i in range(30)) + ")   # a comment that does not fit\n"
           "    raise E(f'{a!r} is not one of the things this function knows about, and it never will be; "
           "{b} was given instead, see the docs')\n")
    out, report = w.wrap_cell(src)
    assert report == [] and out != src and max(map(len, out.splitlines())) <= 120
    assert w.ast_of(out) == w.ast_of(src) and w.wrap_cell(out) == (out, [])
    assert '    # a comment that does not fit\n    if a: return g(arg0' in out and '%time x = 1' in out

def test_wrap_tool_masks_only_magics():
    w = _wrap_tool()
    code = 'x = (a\n     != b)\ny = (c\n     % d)\n'   # continued operators, not magics
    assert w.mask('%time f()\n!ls\n' + code) == '#%time f()\n#!ls\n' + code and w.ast_of(code) is not None

def test_wrap_tool_reports_what_it_cannot_wrap(tmp_path):
    w = _wrap_tool()
    src = 'x = ' + ' + '.join(['1'] * 60) + '\n'
    assert w.wrap_cell(src) == (src, [(1, 'no safe break inside brackets')])
    nb = tmp_path/'n.ipynb'
    cell = {'cell_type': 'code', 'id': 'c1', 'metadata': {}, 'outputs': [], 'execution_count': None, 'source': [src]}
    nb.write_text(json.dumps({'cells': [cell], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
    r = subprocess.run([sys.executable, str(ROOT/'scripts'/'wrap_lines.py'), '--check', str(nb)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and f'{nb}:c1:1: too long' in r.stdout

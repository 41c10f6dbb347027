"The package as a user meets it: the public names, the README's commands, the CLI entry point."
import re, subprocess, sys
from pathlib import Path
import pytest
import mixpath_lab as ml

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.parametrize('name', sorted(ml._NAMES) + list(ml._SUBMODULES))
def test_public_names_resolve(name):
    assert getattr(ml, name) is not None

def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match='no attribute'): ml.not_a_thing

def test_readme_commands_are_make_targets_and_ci_runs_the_test_command():
    readme, makefile, ci = (ROOT/'README.md').read_text(), (ROOT/'Makefile').read_text(), (ROOT/'.ci'/'run').read_text()
    cmds = re.findall(r'\| (?:main job|tests) \| `([^`]+)` \|', readme)
    assert cmds == ['make quickstart', 'make test']
    for c in cmds: assert re.search(rf'^{c.split()[1]}:', makefile, re.M), f'{c} is not a make target'
    assert re.search(r'^\s*(time )?make test\s*$', ci, re.M), '.ci/run must run the README test command'

def test_cli_entry_point_help():
    r = subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', '--help'], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and 'quickstart' in r.stdout and 'search' in r.stdout

def test_cli_bad_input_is_one_clear_line(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'mixpath_lab.cli', 'rank', '--set', 'epochz=3', '--out', str(tmp_path/'r')],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "unknown key(s) ['epochz']" in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'r').exists()

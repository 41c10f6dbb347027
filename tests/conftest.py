"""Shared pytest fixtures: the repository paths, a kernel environment that imports this checkout, Chromium, and a JupyterLab server."""
from __future__ import annotations
import json, os, secrets, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT/'nbs'/'runs'
CHROMIUM = Path(os.environ.get('MIXPATH_CHROMIUM', '/usr/bin/chromium'))
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run']
ARTIFACTS = ROOT/'test-artifacts'
try: import mixpath_lab
except ImportError:   # not installed: this checkout's
    sys.path.insert(0, str(ROOT)); import mixpath_lab
PKG_ROOT = Path(mixpath_lab.__file__).resolve().parents[1]   # kernels import the same mixpath_lab as the tests


def kernel_env(**extra: str) -> dict[str, str]:
    "The environment for kernels and servers started by tests: the tests' mixpath_lab importable, the venv's python first, one thread."
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(PKG_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1'); env.setdefault('MKL_NUM_THREADS', '1')
    env.update(extra)
    return env


@pytest.fixture
def kernel_environ(monkeypatch):
    "Apply `kernel_env()` to this process, so kernels papermill starts (they inherit it) import this checkout."
    for k, v in kernel_env().items(): monkeypatch.setenv(k, v)


def runs_notebooks() -> list[Path]:
    "Every experiment notebook in nbs/runs (checkpoint copies excluded)."
    return sorted(p for p in RUNS.glob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)


def browser_missing_reason() -> str | None:
    "Why the real-browser tests cannot run here, or None."
    if not CHROMIUM.exists(): return f'{CHROMIUM} not found (Debian: apt-get install -y chromium)'
    try: import playwright.sync_api  # noqa: F401
    except ImportError: return 'the playwright package is not installed (pip install playwright; never `playwright install`)'
    return None


@pytest.fixture(scope='session')
def chromium() -> Path:
    "The Chromium executable; skips (or fails with MIXPATH_REQUIRE_BROWSER=1) when it or Playwright is missing."
    why = browser_missing_reason()
    if why:
        if os.environ.get('MIXPATH_REQUIRE_BROWSER', '') == '1': pytest.fail(f'MIXPATH_REQUIRE_BROWSER=1 but {why}')
        pytest.skip(why)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


LAB_SETTINGS = {   # user settings of the test server: every cell stays in the DOM, no news or update checks
    '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
    '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'checkForUpdates': False, 'fetchNews': 'false'},
}


class LabServer:
    "A JupyterLab server in its own process group, serving `root_dir` on 127.0.0.1 with a random token and its own settings."
    def __init__(self, root_dir: Path, state_dir: Path, env: dict | None = None, extra_args: list[str] = ()):
        self.root_dir, self.state_dir = Path(root_dir), Path(state_dir)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f'http://127.0.0.1:{self.port}'
        settings = self.state_dir/'settings'
        for rel, v in LAB_SETTINGS.items():
            f = settings/rel; f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(v))
        env = dict(env or kernel_env())
        env.update(JUPYTER_RUNTIME_DIR=str(self.state_dir/'runtime'), JUPYTER_CONFIG_DIR=str(self.state_dir/'config'))
        cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={self.port}',
               f'--IdentityProvider.token={self.token}', f'--ServerApp.root_dir={self.root_dir}', '--ServerApp.terminals_enabled=False',
               f'--LabApp.user_settings_dir={settings}', f'--LabApp.workspaces_dir={self.state_dir/"workspaces"}',
               '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
               *(['--allow-root'] if os.geteuid() == 0 else []), *extra_args]
        self.log_path = self.state_dir/'server.log'
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(cmd, cwd=self.root_dir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def api(self, path: str, timeout: float = 10):
        "GET a server REST path (JSON decoded)."
        req = urllib.request.Request(f'{self.url}{path}', headers={'Authorization': f'token {self.token}'})
        with urllib.request.urlopen(req, timeout=timeout) as r: return json.loads(r.read() or b'null')

    def wait_ready(self, timeout: float = 90):
        "Block until the server answers its API, or fail with the server log."
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None: break
            try: self.api('/api/status', timeout=3); return self
            except Exception: time.sleep(0.5)
        self.stop()
        raise RuntimeError(f'JupyterLab did not start within {timeout}s (exit {self.proc.returncode}); log:\n{self.log()[-4000:]}')

    def log(self) -> str:
        if not self._log.closed: self._log.flush()
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def stop(self):
        "Terminate the server and its kernels (its own process group), then kill what is left."
        if self.proc.poll() is None:
            try: os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError: pass
            try: self.proc.wait(15)
            except subprocess.TimeoutExpired: pass
        try: os.killpg(self.proc.pid, signal.SIGKILL)   # kernels left in the group, if any
        except ProcessLookupError: pass
        if self.proc.poll() is None: self.proc.wait(10)
        if not self._log.closed: self._log.close()


@pytest.fixture
def lab_server(tmp_path):
    "Factory: `lab_server(root_dir, env=None, extra_args=())` starts JupyterLab there and waits; all are stopped in teardown."
    servers = []
    def start(root_dir: Path, env: dict | None = None, extra_args: list[str] = (), timeout: float = 120) -> LabServer:
        s = LabServer(root_dir, tmp_path/f'lab-{len(servers)}', env, list(extra_args)); servers.append(s)
        return s.wait_ready(timeout)
    yield start
    for s in servers: s.stop()

"""Broken run-directory states, replayed: kills before the first checkpoint, two writers, stale locks, cut-off files,
read-only folders, a full disk, non-finite batches and file modes. Each case asserts the clear error or the right
behaviour."""
import json, os, shutil, signal, socket, stat, subprocess, sys, tempfile, time
from pathlib import Path
import pytest
import torch
from mixpath_lab.core import MixpathError, RunDir, write_json
from mixpath_lab.data import Batches
from mixpath_lab.experiment import RankingConfig, run_ranking
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Callback, CancelFitException, Trainer, TrainConfig

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(n_train=512, n_recal=256, n_val=256, batch_size=128, n_archs=3, epochs=2, steps_per_epoch=2,
             norms=('sbn',), n_recal_batches=1, n_boot=20, threads=1)

def build(ckpt_every=1, epochs=3):
    "A tiny supernet, sampler and batches (3 steps per epoch)."
    space = tiny(m=2)
    g = torch.Generator().manual_seed(1)
    X = torch.randint(0, 256, (48, 3, 8, 8), dtype=torch.uint8, generator=g)
    Y = torch.randint(0, 10, (48,), generator=g)
    torch.manual_seed(0)
    return (Supernet(space, 'sbn'), make_sampler('mixpath', space, 3), Batches(X, Y, 16, seed=5),
            TrainConfig(epochs=epochs, batch_size=16, lr=0.05, ckpt_every=ckpt_every, log_every=2, seed=11))

def no_time(h): return [{k: v for k, v in r.items() if k != 'time'} for r in h]

class Crash(Callback):
    "A killed process: dies at the start of step `at`."
    def __init__(self, at): self.at = at
    def before_step(self):
        if self.step == self.at: raise KeyboardInterrupt('killed')

def py(code: str, *args, prefix=(), **kw) -> subprocess.CompletedProcess:
    "Run `code` in a fresh python that imports this checkout."
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([*prefix, sys.executable, '-c', code, *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=240, **kw)

WAITER = '''
import sys, time, torch
from pathlib import Path
from mixpath_lab.train import Callback
sys.path.insert(0, {tests!r}); from test_hostile_state import build
class Wait(Callback):
    "At the first step: say so, then wait for the go file."
    def before_step(self):
        if self.step: return
        Path(sys.argv[2]).touch()
        t = time.time()
        while not Path(sys.argv[3]).exists() and time.time() - t < 120: time.sleep(0.05)
'''.format(tests=str(ROOT/'tests'))

def start_waiter(body: str, *args) -> subprocess.Popen:
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.Popen([sys.executable, '-c', WAITER + body, *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

def wait_for(f: Path, p: subprocess.Popen, timeout=120):
    t = time.time()
    while not f.exists():
        assert p.poll() is None, p.communicate()
        assert time.time() - t < timeout, 'the other process never started training'
        time.sleep(0.05)

# --- resume from any point -------------------------------------------------------------------------------------------

def test_rank_rerun_after_kill_before_first_checkpoint(tmp_path):
    "`rank` killed in an arm before its first checkpoint: the rerun trains that arm from the start instead of refusing."
    class KillAtEpochEnd(Callback):
        order = 25   # after the epoch's history record, before the checkpoint
        def after_epoch(self): raise KeyboardInterrupt('killed')
    cfg = RankingConfig(**SMALL)
    with pytest.raises(KeyboardInterrupt):
        run_ranking(cfg, tmp_path/'run', progress=False, train_callbacks=[KillAtEpochEnd()])
    arm = tmp_path/'run'/'train_sbn'
    assert RunDir(arm).history() and not (arm/'checkpoints'/'last.pt').exists()
    res = run_ranking(cfg, tmp_path/'run', progress=False)
    assert (tmp_path/'run'/'summary.json').exists() and res['histories']['sbn'][-1]['epoch'] == cfg.epochs - 1
    aside = list(arm.glob('history.jsonl.interrupted-*'))
    assert len(aside) == 1 and aside[0].read_text().strip(), 'the partial history is kept aside, not deleted'
    assert [r['epoch'] for r in RunDir(arm).history() if r['kind'] == 'epoch'] == [0, 1], 'every epoch, once'

def test_ranking_arms_checkpoint_every_epoch():
    "At most one epoch of work is lost: a ranking arm writes a checkpoint after every epoch."
    assert RankingConfig(epochs=60).train_config().ckpt_every == 1

def test_resume_may_change_checkpoint_cadence(tmp_path):
    "A run begun with another `ckpt_every` (the old ranking cadence) still resumes, and ends as an uninterrupted run."
    full = Trainer(*build(), run_dir=tmp_path/'full', progress=False).fit()
    m, s, b, c = build(ckpt_every=2)
    with pytest.raises(KeyboardInterrupt):
        Trainer(m, s, b, c, run_dir=tmp_path/'part', callbacks=[Crash(7)], progress=False).fit()
    part = Trainer(*build(ckpt_every=1), run_dir=tmp_path/'part', progress=False).fit(resume=True)
    assert part.start_epoch == 2 and no_time(part.history) == no_time(full.history)
    for k, v in full.model.state_dict().items(): assert torch.equal(v, part.model.state_dict()[k]), k

# --- one writer per run directory ------------------------------------------------------------------------------------

def test_second_rank_process_on_one_out_is_refused(tmp_path):
    "Two processes on one `--out`: the second stops at once with an error naming the first (pid and host)."
    body = ('from mixpath_lab.experiment import RankingConfig, run_ranking\n'
            f'run_ranking(RankingConfig(**{SMALL!r}), sys.argv[1], progress=False, train_callbacks=[Wait()])\n')
    p = start_waiter(body, tmp_path/'run', tmp_path/'started', tmp_path/'go')
    try:
        wait_for(tmp_path/'started', p)
        with pytest.raises(MixpathError, match=f'is in use by pid {p.pid} on host {socket.gethostname()}'):
            run_ranking(RankingConfig(**SMALL), tmp_path/'run', progress=False)
    finally: (tmp_path/'go').touch()
    out, err = p.communicate(timeout=240)
    assert p.returncode == 0, err
    h = RunDir(tmp_path/'run'/'train_sbn').history()
    assert [r['step'] for r in h if r['kind'] == 'epoch'] == [1, 3], 'one writer: no duplicated history'
    assert not (tmp_path/'run'/'.lock').exists() and not (tmp_path/'run'/'train_sbn'/'.lock').exists()

def test_stale_lock_of_killed_trainer_is_taken_over(tmp_path, caplog):
    "A trainer killed with -9 leaves its lock behind; the next fit takes it over with a warning and trains."
    body = ('from mixpath_lab.train import Trainer\n'
            'Trainer(*build(), run_dir=sys.argv[1], callbacks=[Wait()], progress=False).fit()\n')
    p = start_waiter(body, tmp_path/'run', tmp_path/'started', tmp_path/'go')
    wait_for(tmp_path/'started', p)
    assert json.loads((tmp_path/'run'/'.lock').read_text())['pid'] == p.pid
    p.send_signal(signal.SIGKILL); p.communicate()
    with caplog.at_level('WARNING', logger='mixpath_lab'):
        t = Trainer(*build(), run_dir=tmp_path/'run', progress=False).fit(resume=True)
    assert t.step == 9 and not (tmp_path/'run'/'.lock').exists()
    assert any('stale lock' in r.getMessage() and f'pid {p.pid}' in r.getMessage() for r in caplog.records), caplog.text

# --- broken files ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('cut', ['half', 'empty'])
def test_truncated_checkpoint_is_a_clear_error(tmp_path, cut):
    Trainer(*build(epochs=1), run_dir=tmp_path/'run', progress=False).fit()
    ck = tmp_path/'run'/'checkpoints'/'last.pt'
    data = ck.read_bytes(); ck.write_bytes(data[:len(data) // 2] if cut == 'half' else b'')
    with pytest.raises(MixpathError, match=f'{ck} is cut off or damaged .*move it aside and rerun'):
        Trainer(*build(epochs=1), run_dir=tmp_path/'run', progress=False).fit(resume=True)
    assert ck.read_bytes() == (data[:len(data) // 2] if cut == 'half' else b''), 'nothing written is touched'

def test_half_written_history_line(tmp_path):
    "A kill in the middle of a history append: resume works and the file is one record per line again."
    full = Trainer(*build(), run_dir=tmp_path/'full', progress=False).fit()
    with pytest.raises(KeyboardInterrupt):
        Trainer(*build(), run_dir=tmp_path/'part', callbacks=[Crash(4)], progress=False).fit()
    f = tmp_path/'part'/'history.jsonl'
    with open(f, 'a') as fh: fh.write('{"kind": "train", "step": 5, "lo')
    assert len(RunDir(tmp_path/'part').history()) == 3   # the cut line is skipped
    part = Trainer(*build(), run_dir=tmp_path/'part', progress=False).fit(resume=True)
    assert no_time(part.history) == no_time(full.history) == no_time(RunDir(tmp_path/'part').history())
    assert all(json.loads(l) for l in f.read_text().splitlines())

def test_half_written_history_line_before_first_checkpoint(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        Trainer(*build(ckpt_every=3), run_dir=tmp_path/'run', callbacks=[Crash(4)], progress=False).fit()
    with open(tmp_path/'run'/'history.jsonl', 'a') as fh: fh.write('{"kind": "tr')
    t = Trainer(*build(ckpt_every=3), run_dir=tmp_path/'run', progress=False).fit()
    assert t.step == 9 and len(RunDir(tmp_path/'run').history()) == len(t.history)

def test_damaged_history_line_is_a_clear_error(tmp_path):
    rd = RunDir(tmp_path/'run'); rd.log({'step': 1}); rd.log({'step': 2})
    f = tmp_path/'run'/'history.jsonl'; f.write_text(f.read_text().replace('{"step": 1}', '{"step": 1'))
    with pytest.raises(MixpathError, match='history.jsonl line 1 is not valid JSON'): rd.history()

def test_appending_after_a_cut_line_starts_a_new_line(tmp_path):
    rd = RunDir(tmp_path/'run'); rd.log({'step': 1})
    with open(tmp_path/'run'/'history.jsonl', 'a') as fh: fh.write('{"step": 2, "lo')
    rd.log({'step': 3})
    assert [r['step'] for r in rd.history()] == [1, 3]

def test_half_written_config_json_is_a_clear_error(tmp_path):
    Trainer(*build(), run_dir=tmp_path/'run', progress=False)
    f = tmp_path/'run'/'config.json'; f.write_text(f.read_text()[:40])
    with pytest.raises(MixpathError, match=f'{f} is not valid JSON'):
        Trainer(*build(), run_dir=tmp_path/'run', progress=False)
    with pytest.raises(MixpathError, match=f'{f} is not valid JSON'): RunDir(tmp_path/'run', {'x': 1})

# --- read-only folders and a full disk -------------------------------------------------------------------------------

def unprivileged() -> list[str]:
    "A command prefix under which file permissions apply (root ignores them unless it drops its DAC capabilities)."
    if os.geteuid() != 0: return []
    if shutil.which('setpriv') is None: pytest.skip('running as root without setpriv: permissions cannot be tested')
    return ['setpriv', '--bounding-set', '-dac_override,-dac_read_search,-fowner', '--inh-caps=-all']

def test_read_only_run_directory(tmp_path):
    "`rank --out` in a read-only folder, and resuming a finished run now read-only: one-line errors, no traceback."
    Trainer(*build(epochs=1), run_dir=tmp_path/'done', progress=False).fit()
    ro = tmp_path/'ro'; ro.mkdir()
    for d in (ro, tmp_path/'done', tmp_path/'done'/'checkpoints'): d.chmod(0o555)
    try:
        r = py('import sys; from mixpath_lab.cli import main; sys.exit(main(sys.argv[1:]))',
               'rank', '--out', ro/'run', '-q', '--set', 'epochs=1', prefix=unprivileged())
        assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
        assert f'error: cannot write {ro}/run' in r.stderr and 'read-only' in r.stderr, r.stderr
        code = ('import sys; sys.path.insert(0, sys.argv[2]); from test_hostile_state import build\n'
                'from mixpath_lab.core import MixpathError; from mixpath_lab.train import Trainer\n'
                'try: Trainer(*build(epochs=1), run_dir=sys.argv[1], progress=False).fit(resume=True)\n'
                'except MixpathError as e: print("MixpathError:", e)\n')
        r = py(code, tmp_path/'done', ROOT/'tests', prefix=unprivileged())
        assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
        assert r.stdout.startswith(f'MixpathError: cannot write {tmp_path}/done') and 'read-only' in r.stdout, r.stdout
    finally:
        for d in (ro, tmp_path/'done', tmp_path/'done'/'checkpoints'): d.chmod(0o755)

def test_full_disk_on_history_append(tmp_path):
    "The disk fills up while a history record is appended (ENOSPC from the write): a clear error naming the file."
    code = ('import builtins, errno, io, sys; sys.path.insert(0, sys.argv[2]); from test_hostile_state import build\n'
            'from mixpath_lab.core import MixpathError; from mixpath_lab.train import Trainer\n'
            'class Full(io.StringIO):\n'
            '    def write(self, s): raise OSError(errno.ENOSPC, "No space left on device")\n'
            'real = builtins.open\n'
            'def full_open(f, mode="r", *a, **k):\n'
            '    return Full() if str(f).endswith("history.jsonl") and "a" in mode else real(f, mode, *a, **k)\n'
            'builtins.open = full_open\n'
            'try: Trainer(*build(), run_dir=sys.argv[1], progress=False).fit()\n'
            'except MixpathError as e: print("MixpathError:", e)\n')
    r = py(code, tmp_path/'run', ROOT/'tests')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
    assert r.stdout.startswith(f'MixpathError: no space left writing {tmp_path}/run/history.jsonl'), r.stdout

def test_full_disk_on_checkpoint(tmp_path):
    "No room for a checkpoint (a file-size limit fails the real write): a clear error, no stray file, a rerun works."
    code = ('import resource, signal, sys; sys.path.insert(0, sys.argv[2]); from test_hostile_state import build\n'
            'from mixpath_lab.core import MixpathError; from mixpath_lab.train import Trainer\n'
            'signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n'
            'resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n'
            'try: Trainer(*build(), run_dir=sys.argv[1], progress=False).fit()\n'
            'except MixpathError as e: print("MixpathError:", e)\n')
    r = py(code, tmp_path/'run', ROOT/'tests')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
    assert r.stdout.startswith(f'MixpathError: no space left writing {tmp_path}/run/checkpoints/last.pt'), r.stdout
    assert not list((tmp_path/'run').rglob('*.tmp')) and not (tmp_path/'run'/'checkpoints'/'last.pt').exists()
    full = Trainer(*build(), run_dir=tmp_path/'full', progress=False).fit()
    again = Trainer(*build(), run_dir=tmp_path/'run', progress=False).fit()
    assert no_time(again.history) == no_time(full.history)

# --- non-finite steps ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('poison,why', [(float('nan'), 'the input batch holds NaN or inf'),
                                        (1e38, "the activations overflowed")])
def test_non_finite_step_changes_no_statistic_or_weight(tmp_path, poison, why):
    class Poison(Callback):
        def before_step(self):
            if self.step == 4:
                self.kept = {k: v.clone() for k, v in self.model.state_dict().items()}
                self.trainer.xb = self.xb * poison
    t = Trainer(*build(), run_dir=tmp_path/'run', callbacks=[p := Poison()], progress=False)
    with pytest.raises(MixpathError, match=f'non-finite loss .* at step 4 .*: {why}'): t.fit()
    now = t.model.state_dict()
    bad = [k for k, v in p.kept.items() if not torch.equal(v, now[k])]
    assert not bad, f'changed by the non-finite step: {bad[:5]}'

# --- file modes ------------------------------------------------------------------------------------------------------

def test_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        Trainer(*build(epochs=1), run_dir=tmp_path/'run', progress=False).fit()
        for f in ('config.json', 'history.jsonl', 'checkpoints/last.pt'):
            assert stat.S_IMODE((tmp_path/'run'/f).stat().st_mode) == 0o644, f
        os.umask(0o027)
        assert stat.S_IMODE(write_json(tmp_path/'r.json', {}).stat().st_mode) == 0o640
    finally: os.umask(old)

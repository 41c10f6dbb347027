"Progress bars written to a log (stderr redirected to a file): plain lines, about one per epoch or task, none per step."
import re, subprocess, sys
from conftest import PKG_ROOT, kernel_env

TRAIN = '''
import operator, torch
from mixpath_lab.data import Batches
from mixpath_lab.executor import Task, as_executor
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Trainer, TrainConfig
torch.set_num_threads(1); torch.manual_seed(0)
space, g = tiny(), torch.Generator().manual_seed(0)
x, y = torch.randint(0, 256, (160, 3, 8, 8), dtype=torch.uint8, generator=g), torch.randint(0, 10, (160,), generator=g)
t = Trainer(Supernet(space, 'sbn'), make_sampler('mixpath', space, 0), Batches(x, y, 16, 0),
            TrainConfig(epochs=3, batch_size=16, lr=0.05, log_every=1), progress=True).fit()
assert t.step == 30, t.step
as_executor('local').run([Task(f'task {i}', operator.add, (i, 1)) for i in range(250)], desc='tasks')
'''


def test_training_to_a_log_writes_a_line_per_epoch(tmp_path):
    "3 epochs of 10 steps, then 250 tasks, stderr to a file: no redraws, 5 epoch lines, no step lines, ~100 task lines"
    log = tmp_path/'stderr.log'
    env = kernel_env(TQDM_MININTERVAL='0')   # a bar redrawn at every step would show it in the file
    with open(log, 'w') as f:
        r = subprocess.run([sys.executable, '-c', TRAIN], stderr=f, stdout=subprocess.PIPE, env=env, cwd=PKG_ROOT,
                           timeout=600)   # a loaded 2-core machine imports torch slowly
    text = log.read_text()
    assert r.returncode == 0, text[-2000:]
    assert '\r' not in text and '\x1b[' not in text, 'a bar was redrawn in place (or moved the cursor) in a log file'
    lines = text.splitlines()
    epochs = [l for l in lines if l.startswith('epochs:')]
    assert [re.search(r'\d/3 ', l)[0] for l in epochs] == ['0/3 ', '1/3 ', '2/3 ', '3/3 ', '3/3 '], epochs
    assert not [l for l in lines if l.startswith('epoch ')], 'the per-step bars wrote to the log'
    tasks = [l for l in lines if l.startswith('tasks:')]
    assert 50 <= len(tasks) <= 102 and '250/250' in tasks[-1], (len(tasks), tasks[-1:])

"""Two-rank supernet training for tests/test_ddp.py: run under torchrun, writes per-rank results to argv[1].

`setup()` is shared with the test, which builds the single-process reference from it."""
import atexit, json, sys
from pathlib import Path
import torch
from torch import nn
from mixpath_lab.core import MixpathError
from mixpath_lab.data import Batches
from mixpath_lab.samplers import make_sampler
from mixpath_lab.spaces import tiny
from mixpath_lab.supernet import Supernet
from mixpath_lab.train import Callback, Trainer, TrainConfig, init_distributed

class Chunked(nn.Module):
    "Runs the batch in `n` contiguous chunks: per-chunk BN statistics, like `n` ranks each normalizing its own slice."
    def __init__(self, net: nn.Module, n: int):
        super().__init__(); self.net, self.n, self.space = net, n, net.space
    def config(self): return self.net.config()
    def forward(self, x, arch): return torch.cat([self.net(c, arch) for c in x.chunk(self.n)])

def setup(rank: int = 0, world_size: int = 1, chunks: int = 1, sampler_seed: int = 0, init_seed: int = 0):
    "Tiny supernet (initialized from `init_seed`), MixPath sampler, augmented batches (global batch 32), a 2-epoch config."
    space = tiny()
    g = torch.Generator().manual_seed(0)
    X = torch.randint(0, 256, (96, 3, 8, 8), dtype=torch.uint8, generator=g)
    Y = torch.randint(0, 10, (96,), generator=g)
    torch.manual_seed(init_seed)
    net = Supernet(space, 'sbn')
    model = Chunked(net, chunks) if chunks > 1 else net
    batches = Batches(X, Y, 32, seed=0, augment=True, cutout=4, rank=rank, world_size=world_size)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.1, log_every=1)
    return model, make_sampler('mixpath', space, sampler_seed), batches, cfg

class Probe(Callback):
    "Per step: the arch and the names of parameters whose gradient is None after the cross-rank sum."
    order = 50
    def __init__(self): self.archs, self.none = [], []
    def after_backward(self):
        self.archs.append(self.arch_str)
        self.none.append(sorted(n for n, p in self.model.named_parameters() if p.grad is None))

def _record_teardown(out: Path, who: dict):
    "Runs after `init_distributed`'s exit handler (atexit is last-in, first-out): is the group or a gloo thread left?"
    import os, torch.distributed as dist
    gloo = sorted(n for t in os.listdir('/proc/self/task') if 'gloo' in (n := Path(f'/proc/self/task/{t}/comm').read_text().strip()))
    (out/f'exit{who["rank"]}.txt').write_text(f'initialized={dist.is_initialized()} gloo_threads={gloo}')

def main(out: Path):
    who = {}; atexit.register(_record_teardown, out, who)   # registered first, so it runs last
    rank, world = init_distributed(); who['rank'] = rank
    torch.set_num_threads(1)
    # each rank initializes differently: the trainer must start every rank from rank 0's weights (init_seed 0)
    model, sampler, batches, cfg = setup(rank, world, init_seed=rank)
    probe = Probe()
    t = Trainer(model, sampler, batches, cfg, callbacks=[probe], run_dir=out/'run', progress=False).fit()
    torch.save({k: v for k, v in model.state_dict().items()}, out/f'rank{rank}.pt')
    res = {'rank': rank, 'world': world, 'archs': probe.archs, 'none': probe.none, 'history_len': len(t.history)}
    # a sampler seeded differently per rank must be refused
    model, sampler, batches, cfg = setup(rank, world, sampler_seed=rank)
    try:
        Trainer(model, sampler, batches, cfg, progress=False).fit(); res['mismatch_error'] = None
    except MixpathError as e: res['mismatch_error'] = str(e)
    (out/f'rank{rank}.json').write_text(json.dumps(res))

if __name__ == '__main__':
    main(Path(sys.argv[1]))

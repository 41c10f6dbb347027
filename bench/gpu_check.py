"""A prepared GPU check: throughput of the workbench's hot paths on one CUDA device, fp32 against bf16, in one table.

python bench/gpu_check.py [--data ../shared/data/cifar10] [--budget-s 240] [--cpu-smoke]

Rows (each on the device, data pipeline included: images live on the GPU, batches are cropped/flipped there):
  nb201 train   full-size NAS-Bench-201 supernet (C=16, N=5, 32x32, batch 256), one uniformly sampled cell per step
  s1 train      MixPath S1 supernet (m=2, 32x32, batch 96), MixPath sampler, Shadow BN
  nb201 eval    Evaluator: BN recalibration (4 batches of 256) + validation (2,000 images) per cell
  long run      a few epochs of the long ranking experiment at full size (NB201, C=16, N=5, 32x32), then the
                recalibrated supernet ranks 30 cells against NAS-Bench-201 (Kendall tau; a few epochs only: a
                smoke of the full-size pipeline, not a ranking result)
fp32 and bf16 (torch.autocast, BN statistics and the loss in fp32) are timed side by side in the same process,
interleaved, medians over steps after warm-up. Without a CUDA device every GPU row says it was skipped and why; with
--cpu-smoke the same code paths run at toy sizes on the CPU (what CI checks) and are labelled as such.
"""
import argparse, contextlib, statistics, sys, time
from pathlib import Path
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mixpath_lab.data import Batches  # noqa: E402
from mixpath_lab.evaluate import Evaluator  # noqa: E402
from mixpath_lab.samplers import make_sampler  # noqa: E402
from mixpath_lab.spaces import mixpath_s1, nb201  # noqa: E402
from mixpath_lab.supernet import Supernet  # noqa: E402


def autocast(dtype: str, device: torch.device):
    "bf16 autocast (matmuls and convs in bf16; BN and the loss stay fp32 under autocast's own policy) or nothing."
    return torch.autocast(device.type, dtype=torch.bfloat16) if dtype == 'bf16' else contextlib.nullcontext()


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def random_images(n: int, size: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g).to(device),
            torch.randint(0, 10, (n,), generator=g).to(device))


def train_throughput(space, norm, sampler, bs, size, steps, warmup, device, dtypes=('fp32', 'bf16')):
    "Images per second of supernet training steps (data on the device), per precision, interleaved step by step."
    x, y = random_images(bs * 4, size, 0, device)
    torch.manual_seed(0)
    nets = {d: Supernet(space, norm).to(device).to(memory_format=torch.channels_last) for d in dtypes}
    opts = {d: torch.optim.SGD(nets[d].parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
            for d in dtypes}
    batches = Batches(x, y, bs, seed=0, augment=True, device=device)
    smp, loss_fn, times = make_sampler(sampler, space, 0), nn.CrossEntropyLoss(), {d: [] for d in dtypes}
    it = iter(())
    for step in range(warmup + steps):
        arch = smp.sample()
        try: xb, yb = next(it)
        except StopIteration: it = iter(batches); xb, yb = next(it)
        for d in dtypes:
            sync(device); t0 = time.perf_counter()
            with autocast(d, device): out = nets[d](xb.contiguous(memory_format=torch.channels_last), arch)
            loss = loss_fn(out.float(), yb)
            opts[d].zero_grad(set_to_none=True); loss.backward(); opts[d].step()
            sync(device)
            if step >= warmup: times[d].append(time.perf_counter() - t0)
    return {d: bs / statistics.median(t) for d, t in times.items()}


def eval_throughput(space, n_cells, device, n_val, rbs=256, size=32, dtypes=('fp32', 'bf16')):
    "Images per second the evaluator processes per cell (4 recalibration batches of `rbs` + validation), per precision."
    torch.manual_seed(0)
    net = Supernet(space, 'sbn').to(device)
    recal, val = random_images(4 * rbs, size, 1, device), random_images(n_val, size, 2, device)
    rb, vb = Batches(*recal, rbs, seed=1, device=device), Batches(*val, 500, seed=0, shuffle=False, drop_last=False,
                                                                   device=device)
    ev = Evaluator(net, rb, vb, n_recal_batches=4)
    cells = [space.sample(np.random.default_rng(i)) for i in range(n_cells + 1)]
    out = {}
    for d in dtypes:
        ev.clear()
        with autocast(d, device): ev.accuracy(cells[-1])   # warm-up
        sync(device); t0 = time.perf_counter()
        with autocast(d, device):
            for c in cells[:n_cells]: ev.accuracy(c)
        sync(device)
        out[d] = n_cells * (4 * rbs + n_val) / (time.perf_counter() - t0)
    return out


def long_run(data, epochs, n_cells, device, size=32, C=16, N=5, bs=256):
    "A few epochs of the full-size ranking pipeline on the device; Kendall tau of 30 recalibrated cells (smoke)."
    from scipy.stats import kendalltau
    from mixpath_lab.benchmarks import NB201
    from mixpath_lab.data import cifar10_splits
    from mixpath_lab.train import Trainer, TrainConfig
    parts = cifar10_splits(data, {'train': 40_000, 'recal': 2_000, 'val': 5_000}, seed=0)
    size = None if size == 32 else size
    train = Batches(*parts['train'], bs, seed=0, augment=True, size=size, device=device)
    recal = Batches(*parts['recal'], bs, seed=1, size=size, device=device)
    val = Batches(*parts['val'], 500, seed=0, shuffle=False, drop_last=False, size=size, device=device)
    torch.manual_seed(0)
    net = Supernet(nb201(C=C, N=N), 'sbn').to(device)
    cfg = TrainConfig(epochs=epochs, batch_size=bs, lr=0.1, nesterov=True, weight_decay=5e-4, log_every=50)
    sync(device); t0 = time.perf_counter()
    Trainer(net, make_sampler('spos', net.space, 0), train, cfg, progress=False).fit()
    sync(device); t_train = time.perf_counter() - t0
    bench = NB201(); cells = bench.sample(np.random.default_rng(0), n_cells, unique=True)
    ev = Evaluator(net, recal, val, n_recal_batches=4)
    t0 = time.perf_counter(); accs = [ev.accuracy(c) for c in cells]; t_eval = time.perf_counter() - t0
    truth = [bench.query(c, 'cifar10', 200) for c in cells]
    return {'img_per_s': epochs * len(train) * bs / t_train, 'train_s': t_train, 'eval_s': t_eval,
            'tau': kendalltau(accs, truth).statistic}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=str(ROOT.parent/'shared'/'data'/'cifar10'),
                    help='CIFAR-10 folder for the long run (torchvision or the JPEG-npz format)')
    ap.add_argument('--steps', type=int, default=30); ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--cpu-smoke', action='store_true', help='run every row at toy sizes on the CPU (code-path check)')
    a = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    rows, t_start = [], time.time()
    if not cuda and not a.cpu_smoke:
        why = 'skipped: no CUDA device (torch.cuda.is_available() is False)'
        rows = [(name, why) for name in ('nb201 train', 's1 train', 'nb201 eval', 'long run')]
    else:
        dev = torch.device('cuda' if cuda else 'cpu')
        smoke = not cuda
        if smoke:
            torch.set_num_threads(1)
            sp, s1, bs, bs1, steps, warm = nb201(C=4, N=1), mixpath_s1(2), 8, 2, 1, 1
        else:
            torch.backends.cudnn.benchmark = True
            sp, s1, bs, bs1, steps, warm = nb201(C=16, N=5), mixpath_s1(2), 256, 96, a.steps, 5
        tag = ' (CPU smoke, toy sizes)' if smoke else ''
        r = train_throughput(sp, 'sbn', 'spos', bs, 32 if not smoke else 8, steps, warm, dev)
        rows.append(('nb201 train' + tag, f"fp32 {r['fp32']:9.1f} img/s | bf16 {r['bf16']:9.1f} img/s | "
                                          f"bf16/fp32 x{r['bf16'] / r['fp32']:.2f}"))
        r = train_throughput(s1, 'sbn', 'mixpath', bs1, 32 if not smoke else 8, steps, warm, dev)
        rows.append(('s1 train' + tag, f"fp32 {r['fp32']:9.1f} img/s | bf16 {r['bf16']:9.1f} img/s | "
                                       f"bf16/fp32 x{r['bf16'] / r['fp32']:.2f}"))
        r = eval_throughput(sp, 1, dev, 32, 8, 8) if smoke else eval_throughput(sp, 20, dev, 2000)
        rows.append(('nb201 eval' + tag, f"fp32 {r['fp32']:9.1f} img/s | bf16 {r['bf16']:9.1f} img/s | "
                                         f"bf16/fp32 x{r['bf16'] / r['fp32']:.2f}"))
        if smoke: rows.append(('long run', 'skipped: needs a CUDA device (full CIFAR-10 at full size)'))
        elif not Path(a.data).exists(): rows.append(('long run', f'skipped: no CIFAR-10 at {a.data} (pass --data)'))
        else:
            r = long_run(a.data, a.epochs, 30, dev)
            rows.append((f'long run ({a.epochs} epochs)', f"train {r['img_per_s']:9.1f} img/s ({r['train_s']:.0f} s) | "
                                                         f"30 cells evaluated in {r['eval_s']:.0f} s | tau {r['tau']:.3f}"))
    dev_name = torch.cuda.get_device_name(0) if cuda else 'no CUDA device'
    print(f'\nGPU check: {dev_name}, torch {torch.__version__}, {time.time() - t_start:.0f} s')
    w = max(len(n) for n, _ in rows)
    for name, text in rows: print(f'  {name:<{w}}  {text}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Decoding the shipped JPEG-npz CIFAR-10 files: torchvision's batched `decode_jpeg` (what `load_cifar10` uses) vs
Pillow, one image at a time (what it used before).

Both decode the same file in the same run, interleaved over rounds (best round each), one thread, and must give the
same pixels; prints both times and the ratio Pillow / torchvision.
Usage: python bench/bench_decode.py [--file full|subset] [--rounds 3]
"""
import argparse, io, time
import numpy as np
import torch
from PIL import Image
from mixpath_lab.data import _decode_npz, _file_key, data_dir


def pillow(path):
    "Every image of the file decoded by Pillow, as uint8 (N, 3, 32, 32)."
    with np.load(path) as z: blob, off = z['blob'], z['offsets']
    x = np.stack([np.asarray(Image.open(io.BytesIO(blob[off[i]:off[i + 1]].tobytes())).convert('RGB'))
                  for i in range(len(off) - 1)])
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--file', choices=('full', 'subset'), default='full')
    ap.add_argument('--rounds', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    path = (data_dir()/'cifar10_full' if a.file == 'full' else data_dir())/'cifar10_train_jpeg.npz'
    tv = lambda: _decode_npz.__wrapped__(_file_key(path))[0]   # the library's decoder, bypassing its cache
    times = {'pillow': [], 'torchvision': []}
    for _ in range(a.rounds):
        for name, f in (('pillow', lambda: pillow(path)), ('torchvision', tv)):
            t = time.perf_counter(); out = f(); times[name].append(time.perf_counter() - t)
            if name == 'pillow': ref = out
            else: assert torch.equal(out, ref), 'the two decoders disagree'
    p, t = min(times['pillow']), min(times['torchvision'])
    print(f'{path.name} ({a.file}, {len(ref)} images), 1 thread, best of {a.rounds} interleaved rounds, same pixels')
    print(f'  Pillow, per image:          {p:7.2f} s')
    print(f'  torchvision decode_jpeg:    {t:7.2f} s')
    print(f'  ratio Pillow / torchvision: {p / t:.2f}x')


if __name__ == '__main__':
    main()

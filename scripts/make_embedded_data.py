#!/usr/bin/env python
"""Regenerate the embedded data in data/: the CIFAR-10 subset and the NAS-Bench-201 table (byte-identical).

    python scripts/make_embedded_data.py [--src ../shared/data] [--out data] [--seed 0]

Picks 1,000 train and 200 test images per class with a fixed seed, copies their JPEG bytes unchanged
(no re-encoding) and writes `cifar10_{train,test}_jpeg.npz` in the same format as the source
(keys blob, offsets, y, idx_in_class, classes). The zip members get a fixed timestamp, so the files
are byte-identical on every run.

The full copy, `cifar10_full/cifar10_{train,test}_jpeg.npz` (all 50,000 / 10,000 images), is the source's two files
copied byte for byte: what `load_cifar10('full')` and the main job read.

The NAS-Bench-201 table `nb201.csv.gz` is the source's `nas-bench-201/nb201_combined.csv`, all rows and
columns unchanged, gzipped with a zero timestamp.
"""
from __future__ import annotations
import argparse, gzip, hashlib, io, shutil, zipfile
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PER_CLASS = {'train': 1000, 'test': 200}


def subset(src: Path, split: str, per_class: int, seed: int) -> dict[str, np.ndarray]:
    "Class-balanced seeded subset of one split, in a seeded shuffled order."
    z = np.load(src / f'cifar10_{split}_jpeg.npz')
    y, off, blob = z['y'], z['offsets'], z['blob']
    rng = np.random.default_rng([seed, 0 if split == 'train' else 1])
    pick = np.concatenate([np.sort(rng.choice(np.flatnonzero(y == c), per_class, replace=False)) for c in range(10)])
    pick = pick[rng.permutation(len(pick))]
    parts = [blob[off[i]:off[i + 1]] for i in pick]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    return dict(blob=np.concatenate(parts).astype(np.uint8), offsets=offsets, y=y[pick].astype(np.uint8),
                idx_in_class=z['idx_in_class'][pick].astype(np.int32), classes=z['classes'])


def save_npz(path: Path, arrays: dict[str, np.ndarray]):
    "Like np.savez, but with fixed zip timestamps so the bytes do not depend on when it ran."
    tmp = path.with_suffix('.tmp')
    with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_STORED) as zf:
        for k, a in arrays.items():
            buf = io.BytesIO(); np.lib.format.write_array(buf, np.asarray(a), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f'{k}.npy', date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())
    tmp.replace(path)


NB201_COLUMNS = ['index', 'arch_str', 'cifar10_test_200ep', 'cifar100_test_200ep', 'imagenet16_test_200ep',
                 'cifar10_test_12ep', 'cifar10valid_val_12ep', 'cifar100_test_12ep', 'cifar100_val_12ep',
                 'imagenet16_test_12ep', 'imagenet16_val_12ep', 'unique_str']


def save_nb201(src: Path, path: Path):
    "Gzip the NAS-Bench-201 table (after checking its header and row count) with a fixed timestamp."
    raw = src.read_bytes()
    header, n = raw.split(b'\n', 1)[0].decode().strip().split(','), raw.count(b'\n')
    assert header == NB201_COLUMNS and n in (15625, 15626), (header, n)
    tmp = path.with_suffix('.tmp'); tmp.write_bytes(gzip.compress(raw, 9, mtime=0)); tmp.replace(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--src', type=Path, default=ROOT.parent / 'shared' / 'data')
    ap.add_argument('--out', type=Path, default=ROOT / 'data')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for split, n in PER_CLASS.items():
        p = a.out / f'cifar10_{split}_jpeg.npz'
        save_npz(p, subset(a.src / 'cifar10', split, n, a.seed))
        print(f'{p}: {10 * n} images, {p.stat().st_size / 1e6:.2f} MB, sha256 {hashlib.sha256(p.read_bytes()).hexdigest()[:16]}')
    (a.out / 'cifar10_full').mkdir(exist_ok=True)
    for split in PER_CLASS:
        src, p = a.src / 'cifar10' / f'cifar10_{split}_jpeg.npz', a.out / 'cifar10_full' / f'cifar10_{split}_jpeg.npz'
        tmp = p.with_suffix('.tmp'); shutil.copyfile(src, tmp); tmp.replace(p)
        print(f'{p}: the full {split} split, {p.stat().st_size / 1e6:.2f} MB, '
              f'sha256 {hashlib.sha256(p.read_bytes()).hexdigest()[:16]}')
    p = a.out / 'nb201.csv.gz'
    save_nb201(a.src / 'nas-bench-201' / 'nb201_combined.csv', p)
    print(f'{p}: {p.stat().st_size / 1e6:.2f} MB, sha256 {hashlib.sha256(p.read_bytes()).hexdigest()[:16]}')


if __name__ == '__main__':
    main()

"Data loading across formats: a genuine-layout torchvision folder, the shared JPEG-npz copy, the embedded subset."
import pickle
from pathlib import Path
import numpy as np
import pytest
import torch
from mixpath_lab.core import MixpathError
from mixpath_lab.data import CIFAR10_CLASSES, Batches, cifar10_splits, load_cifar10

torch.set_num_threads(1)
SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data'
TV_FILES = ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch']


def write_torchvision_folder(root: Path, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor) -> Path:
    """A `cifar-10-batches-py/` folder in torchvision's layout: 5 train pickles, test_batch, batches.meta.

    The genuine files are Python 2 pickles whose keys read back as `str` under torchvision's
    `encoding='latin1'`; protocol 2 with `str` keys reads back the same way."""
    d = root / 'cifar-10-batches-py'; d.mkdir(parents=True)
    def dump(name, xs, ys, label):
        entry = {'batch_label': label, 'labels': [int(v) for v in ys],
                 'data': xs.reshape(len(xs), -1).numpy().astype(np.uint8),  # rows: 1024 R, 1024 G, 1024 B
                 'filenames': [f'img_{i}.png' for i in range(len(xs))]}
        with open(d / name, 'wb') as f: pickle.dump(entry, f, protocol=2)
    for k, (xs, ys) in enumerate(zip(x.chunk(5), y.chunk(5))): dump(f'data_batch_{k + 1}', xs, ys, f'training batch {k + 1} of 5')
    dump('test_batch', xt, yt, 'testing batch 1 of 1')
    with open(d / 'batches.meta', 'wb') as f:
        pickle.dump({'num_cases_per_batch': len(x) // 5, 'label_names': list(CIFAR10_CLASSES), 'num_vis': 3072}, f, protocol=2)
    return d


@pytest.fixture(scope='module')
def small():
    "A few hundred embedded images per split."
    x, y = load_cifar10()
    xt, yt = load_cifar10(split='test')
    return x[:300], y[:300], xt[:100], yt[:100]


def test_torchvision_folder_reads_back(tmp_path, small, monkeypatch):
    x, y, xt, yt = small
    write_torchvision_folder(tmp_path, x, y, xt, yt)
    # the fake files cannot have the genuine MD5s that torchvision checks: unchecked, they must read back exactly
    with pytest.raises(MixpathError, match='unreadable or corrupt'):
        load_cifar10(tmp_path)
    from torchvision.datasets import CIFAR10
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)
    monkeypatch.setattr('torchvision.datasets.cifar.check_integrity', lambda *a, **k: True)
    for root in (tmp_path, tmp_path / 'cifar-10-batches-py'):  # the parent or the folder itself
        xr, yr = load_cifar10(root, 'train')
        assert xr.dtype == torch.uint8 and xr.shape == (300, 3, 32, 32)
        assert torch.equal(xr, x) and torch.equal(yr, y)
    xr, yr = load_cifar10(tmp_path, 'test')
    assert torch.equal(xr, xt) and torch.equal(yr, yt)


def test_missing_folder_names_the_formats(tmp_path):
    with pytest.raises(MixpathError) as e:
        load_cifar10(tmp_path / 'absent')
    msg = str(e.value)
    assert 'cifar-10-batches-py' in msg and 'cifar10_train_jpeg.npz' in msg and 'download=True' in msg


def test_truncated_npz_is_reported(tmp_path):
    src = Path(__file__).resolve().parents[1] / 'data' / 'cifar10_test_jpeg.npz'
    (tmp_path / 'cifar10_test_jpeg.npz').write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(MixpathError, match='unreadable or corrupt'):
        load_cifar10(tmp_path, 'test')


@pytest.mark.skipif(not (SHARED / 'cifar10' / 'cifar10_test_jpeg.npz').is_file(), reason='../shared/data absent')
def test_shared_npz_format():
    x, y = load_cifar10(SHARED / 'cifar10', 'test')
    assert x.shape == (10_000, 3, 32, 32) and torch.bincount(y).tolist() == [1000] * 10
    # the embedded subset's test images are a subset of these, byte for byte after decoding
    z = np.load(Path(__file__).resolve().parents[1] / 'data' / 'cifar10_test_jpeg.npz')
    xe, ye = load_cifar10(split='test')
    full_pos = {(int(c), int(i)): p for p, (c, i) in enumerate(zip(y.tolist(), np.load(SHARED / 'cifar10' / 'cifar10_test_jpeg.npz')['idx_in_class']))}
    pos = [full_pos[(int(c), int(i))] for c, i in zip(z['y'][:50], z['idx_in_class'][:50])]
    assert torch.equal(x[pos], xe[:50]) and torch.equal(y[pos], ye[:50])


def test_splits_and_batches_end_to_end():
    d = cifar10_splits(sizes={'train': 2000, 'recal': 500, 'val': 500}, seed=3)
    assert {k: len(v[1]) for k, v in d.items()} == {'train': 2000, 'recal': 500, 'val': 500, 'test': 2000}
    b = Batches(*d['train'], 256, seed=0, augment=True, size=16, cutout=8)
    b.set_epoch(5); first = [t for t in b]
    b2 = Batches(*d['train'], 256, seed=0, augment=True, size=16, cutout=8)
    b2.set_epoch(5); again = [t for t in b2]
    assert len(first) == 7 and all(torch.equal(p[0], q[0]) for p, q in zip(first, again))
    assert first[0][0].shape == (256, 3, 16, 16) and torch.isfinite(first[0][0]).all()

"""cnnlib.data: loading, subsets, batching, the offline message, the sample photo."""
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from cnnlib import data
from cnnlib.data import DatasetUnavailableError, TensorLoader, load_dataset, subset


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist", "test")


def test_data_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.delenv("CNNLIB_DATA")
    assert data.data_root().name == "data"


def test_load_mnist_matches_torchvision(mnist_test):
    from torchvision import datasets

    x, y = mnist_test
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10_000,) and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    ref = datasets.MNIST(str(data.data_root()), train=False, download=False)
    img, label = ref[7]
    assert np.allclose(np.asarray(img, dtype=np.float32) / 255, x[7, 0].numpy())
    assert label == y[7].item()
    # the published class counts of the MNIST test set
    assert torch.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_fashion_subset_is_deterministic():
    a, la = load_dataset("fashion_mnist", "test", n=50, seed=3)
    b, lb = load_dataset("fashion_mnist", "test", n=50, seed=3)
    c, _ = load_dataset("fashion_mnist", "test", n=50, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert data.class_names("fashion_mnist")[9] == "Ankle boot"
    assert data.class_names("mnist")[3] == "3"


def test_missing_dataset_offline_message(tmp_path, monkeypatch, capsys):
    # no files, and every download attempt fails as it does without network
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_network)
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset("mnist", root=tmp_path)
    msg = str(err.value)
    assert "MNIST" in msg and str(tmp_path) in msg
    assert "train-images-idx3-ubyte.gz" in msg and "CNNLIB_DATA" in msg and "internet" in msg
    # one short error: no chained traceback of each mirror tried, no download chatter
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert "Failed to download" not in capsys.readouterr().out
    import traceback
    assert len(traceback.format_exception(err.value)) <= 8


def test_load_from_copied_raw_files(tmp_path):
    shutil.copytree(data.data_root() / "FashionMNIST" / "raw", tmp_path / "FashionMNIST" / "raw")
    x, y = load_dataset("fashion_mnist", "test", root=tmp_path, n=10)
    assert x.shape == (10, 1, 28, 28) and y.shape == (10,)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(name="cifar10"), ValueError, "name"),
    (dict(name="mnist", split="val"), ValueError, "split"),
    (dict(name="mnist", n=0), ValueError, "n must be a positive integer"),
    (dict(name="mnist", n=2.5), TypeError, "n must be a positive integer"),
    (dict(name="mnist", split="test", n=10_001), ValueError, r"n must be at most the size of the test split \(10000\)"),
    (dict(name="fashion_mnist", n=60_001), ValueError, r"at most the size of the train split \(60000\)"),
    (dict(name="mnist", seed=-1), ValueError, "seed must be a non-negative integer"),
    (dict(name="mnist", download="no"), TypeError, "download must be True or False"),
])
def test_load_bad_arguments_fail_before_any_file_is_read(kwargs, exc, match, tmp_path, monkeypatch):
    import torchvision.datasets

    def no_reading(*a, **k):
        raise AssertionError("the dataset was opened before the arguments were checked")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_reading)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", no_reading)
    with pytest.raises(exc, match=match):
        load_dataset(root=tmp_path, **kwargs)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
    (dict(shuffle=None), TypeError, "shuffle must be True or False"),
    (dict(drop_last=2), TypeError, "drop_last must be True or False"),
    (dict(drop_last=1), TypeError, "drop_last must be True or False"),
    (dict(seed=-3), ValueError, "seed must be a non-negative integer"),
    (dict(transform="flip"), TypeError, "transform must be a function"),
    (dict(inputs=np.zeros((5, 1))), TypeError, "inputs must be a torch.Tensor"),
    (dict(targets=[0, 1, 2, 3, 4]), TypeError, "targets must be a torch.Tensor"),
])
def test_tensor_loader_bad_arguments(kwargs, exc, match):
    args = dict(inputs=torch.zeros(5, 1), targets=torch.zeros(5))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        TensorLoader(**args)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_tensor_loader_flags_accept_bools(value):
    loader = TensorLoader(torch.zeros(5, 1), torch.zeros(5), batch_size=2, shuffle=value, drop_last=value)
    assert len(loader) == (2 if value else 3) == len(torch.utils.data.DataLoader(range(5), 2, drop_last=bool(value)))


def test_subset_errors():
    x, y = torch.zeros(5, 1, 2, 2), torch.zeros(5, dtype=torch.long)
    with pytest.raises(ValueError, match="n must be at most"):
        subset(x, y, 6)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        subset(x, y, 0)
    with pytest.raises(ValueError, match="same length"):
        subset(x, y[:4], 2)
    with pytest.raises(ValueError, match="same length"):
        TensorLoader(x, y[:4])
    with pytest.raises(TypeError, match="batch_size"):
        TensorLoader(x, y, batch_size=2.5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), batch=st.integers(1, 50), shuffle=st.booleans(), drop_last=st.booleans())
def test_tensor_loader_covers_every_item_once(n, batch, shuffle, drop_last):
    x = torch.arange(n, dtype=torch.float32)[:, None]
    y = torch.arange(n)
    loader = TensorLoader(x, y, batch_size=batch, shuffle=shuffle, seed=1, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = torch.cat([b[1] for b in batches]) if batches else torch.empty(0, dtype=torch.long)
    for bx, by in batches:
        assert torch.equal(bx[:, 0].long(), by)  # inputs stay paired with targets
    expected = n - n % batch if drop_last else n
    assert len(seen) == expected and len(set(seen.tolist())) == expected
    if not shuffle:
        assert seen.tolist() == list(range(expected))


def test_tensor_loader_reshuffles_reproducibly_and_transforms():
    x, y = torch.arange(20.0)[:, None], torch.arange(20)
    a = [b[1].tolist() for b in TensorLoader(x, y, 5, shuffle=True, seed=7)]
    b = [b[1].tolist() for b in TensorLoader(x, y, 5, shuffle=True, seed=7)]
    assert a == b
    loader = TensorLoader(x, y, 5, shuffle=True, seed=7)
    e1, e2 = [t[1].tolist() for t in loader], [t[1].tolist() for t in loader]
    assert e1 != e2  # a new order each epoch
    noisy = TensorLoader(x, y, 20, transform=lambda t, g: t + 100)
    (bx, _), = list(noisy)
    assert torch.equal(bx, x + 100)


def test_sample_photo_and_layouts():
    photo = data.sample_photo()
    assert photo.shape == (600, 512, 3) and photo.dtype == np.float32
    assert 0 <= photo.min() and photo.max() <= 1
    small = data.sample_photo(size=64)
    assert small.shape == (64, 64, 3)
    chw = data.to_chw(small)
    assert chw.shape == (3, 64, 64)
    assert np.array_equal(data.to_hwc(chw), small)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        data.to_chw(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        data.to_hwc(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="size"):
        data.sample_photo(size=0)


def test_load_cifar10_converts_torchvisions_arrays(monkeypatch, tmp_path):
    import torchvision

    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)   # torchvision keeps (N, H, W, C) uint8

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            assert root == str(tmp_path) and train is False and download is False
            self.data, self.targets = raw, [3, 1, 4, 1, 5]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    x, y = data.load_cifar10("test", root=tmp_path, download=False)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x[2, 1], torch.from_numpy(raw[2, :, :, 1]).float() / 255)
    assert y.tolist() == [3, 1, 4, 1, 5]


def test_load_cifar10_missing_without_network_says_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="CIFAR-10 needs network once"):
        data.load_cifar10("train", root=tmp_path, download=False)
    with pytest.raises(ValueError, match="split"):
        data.load_cifar10("valid")


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 60), frac=st.floats(0.01, 0.99), seed=st.integers(0, 100))
def test_train_val_split_is_a_disjoint_fixed_partition(n, frac, seed):
    n_val = max(1, min(n - 1, round(frac * n)))
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    labels = torch.arange(n) * 10
    tx, ty, vx, vy = data.train_val_split(images, labels, n_val, seed=seed)
    assert tx.shape == (n - n_val, 1, 2, 2) and vx.shape == (n_val, 1, 2, 2)
    ids = torch.cat([tx[:, 0, 0, 0], vx[:, 0, 0, 0]]).long()
    assert sorted(ids.tolist()) == list(range(n))                   # every item once, none twice
    assert torch.equal(torch.cat([ty, vy]), ids * 10)              # labels stay with their images
    again = data.train_val_split(images, labels, n_val, seed=seed)
    assert torch.equal(again[2], vx) and torch.equal(again[0], tx)  # same seed, same split


def test_train_val_split_differs_by_seed_and_rejects_bad_input():
    x, y = torch.randn(100, 1, 2, 2), torch.arange(100)
    assert not torch.equal(data.train_val_split(x, y, 10, seed=0)[3], data.train_val_split(x, y, 10, seed=1)[3])
    with pytest.raises(ValueError, match="n_val"):
        data.train_val_split(x, y, 100)
    with pytest.raises(ValueError, match="n_val"):
        data.train_val_split(x, y, 0)
    with pytest.raises(TypeError, match="n_val"):
        data.train_val_split(x, y, 0.1)
    with pytest.raises(ValueError, match="same length"):
        data.train_val_split(x, y[:50], 10)

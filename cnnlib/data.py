"""Datasets as in-memory tensors: MNIST and Fashion-MNIST, batching, a sample photo.

The data root is ``$CNNLIB_DATA`` when set, else the repository's ``data/`` folder.
torchvision downloads a missing dataset there; without network and without the files,
:class:`DatasetUnavailableError` says how to get them instead of a traceback from urllib.

Images come back as float32 tensors ``(N, 1, 28, 28)`` scaled to [0, 1] and labels as
int64 ``(N,)``. Keeping a whole dataset as one tensor (MNIST's training set: 60 000 * 784
float32 = 188 MB) avoids per-item PIL transforms and makes an epoch on a laptop CPU a
matter of seconds.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from . import _validate

DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))


class DatasetUnavailableError(RuntimeError):
    """A dataset is neither on disk nor downloadable (no network)."""


def data_root() -> Path:
    """The dataset cache: ``$CNNLIB_DATA`` if set, else ``<repo>/data``."""
    env = os.environ.get("CNNLIB_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data"


def class_names(name: str) -> tuple[str, ...]:
    """The ten class names of ``name`` ('mnist' or 'fashion_mnist')."""
    _check_name(name)
    return MNIST_CLASSES if name == "mnist" else FASHION_MNIST_CLASSES


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")


def load_dataset(
    name: str,
    split: str = "train",
    root: str | Path | None = None,
    n: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST or Fashion-MNIST as tensors.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        split: ``"train"`` (60 000 images) or ``"test"`` (10 000 images).
        root: data root; defaults to :func:`data_root`.
        n: if given, a deterministic random subset of ``n`` images (see :func:`subset`).
        seed: seed of that subset.
        download: let torchvision download missing files.

    Returns:
        images: (N, 1, 28, 28) float32 in [0, 1]; labels: (N,) int64.
    """
    _check_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n is not None:  # checked before any file is read
        n = _validate.positive_int("n", n)
        size = 60_000 if split == "train" else 10_000
        if n > size:
            raise ValueError(f"n must be at most the size of the {split} split ({size}), got {n}")
    _validate.nonneg_int("seed", seed)
    download = _validate.flag("download", download)
    from torchvision import datasets  # imported here: torchvision is slow to import

    root = Path(root) if root is not None else data_root()
    cls = getattr(datasets, DATASETS[name])
    chatter = io.StringIO()  # torchvision's "Downloading ... / Failed to download (trying next)" lines
    try:
        with contextlib.redirect_stdout(chatter):
            ds = cls(root=str(root), train=(split == "train"), download=download)
    except Exception as err:  # URLError, HTTPError, RuntimeError("Dataset not found")
        # one short message that says what to do, not a chained traceback of every mirror tried
        raise DatasetUnavailableError(_missing_message(name, root, err)) from None
    sys.stdout.write(chatter.getvalue())
    images = ds.data.unsqueeze(1).to(torch.float32).div_(255.0)
    labels = ds.targets.to(torch.int64)
    if n is not None:
        images, labels = subset(images, labels, n, seed=seed)
    return images, labels


def load_cifar10(split: str = "train", root: str | Path | None = None,
                 download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load CIFAR-10 as tensors (an option for learners with network; CI never uses it).

    split: ``"train"`` (50 000 images) or ``"test"`` (10 000).
    Returns images: (N, 3, 32, 32) float32 in [0, 1]; labels: (N,) int64.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    from torchvision import datasets

    root = Path(root) if root is not None else data_root()
    try:
        ds = datasets.CIFAR10(root=str(root), train=(split == "train"), download=download)
    except Exception as err:  # URLError, HTTPError, RuntimeError("Dataset not found or corrupted")
        raise DatasetUnavailableError(
            f"Could not load CIFAR-10 from {root} and could not download it ({type(err).__name__}: {err}).\n"
            f"CIFAR-10 needs network once (torchvision downloads about 170 MB into {root}); "
            f"without network use Fashion-MNIST (load_dataset('fashion_mnist'))."
        ) from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    return images.contiguous(), torch.tensor(ds.targets, dtype=torch.int64)


def _missing_message(name: str, root: Path, err: Exception) -> str:
    folder = DATASETS[name]
    return (
        f"Could not load the {folder} dataset from {root} and could not download it "
        f"({type(err).__name__}: {err}).\n"
        f"To fix this, do one of:\n"
        f"  - connect to the internet and run again (torchvision downloads about 30 MB), or\n"
        f"  - copy torchvision's raw files so that {root / folder / 'raw'} holds "
        f"train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
        f"and t10k-labels-idx1-ubyte.gz (e.g. `cp -r /path/to/datasets/{folder} {root}/`), or\n"
        f"  - set CNNLIB_DATA to a folder that already holds {folder}/raw/."
    )


def subset(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic random subset of ``n`` items (same ``seed`` -> same items).

    images: (N, ...) -> (n, ...); labels: (N,) -> (n,).
    """
    n = _validate.positive_int("n", n)
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")
    if n > len(images):
        raise ValueError(f"n must be at most the dataset size {len(images)}, got {n}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(images), generator=g)[:n]
    return images[idx], labels[idx]


def train_val_split(
    images: torch.Tensor, labels: torch.Tensor, n_val: int, seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hold out a fixed validation split from a training set (same ``seed`` -> same split).

    images: (N, ...), labels: (N,) -> train_images (N - n_val, ...), train_labels (N - n_val,),
    val_images (n_val, ...), val_labels (n_val,). The two parts are disjoint and together
    hold every item once. Choose settings on the validation split; keep the test set for
    the final model only.
    """
    n_val = _validate.positive_int("n_val", n_val)
    _validate.nonneg_int("seed", seed)
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")
    if n_val >= len(images):
        raise ValueError(f"n_val must be smaller than the dataset size {len(images)} (some items must "
                         f"stay for training), got {n_val}")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=g)
    val, train = order[:n_val], order[n_val:]
    return images[train], labels[train], images[val], labels[val]


class TensorLoader:
    """Mini-batches of in-memory tensors, reshuffled each epoch from a fixed seed.

    A light replacement for ``DataLoader(TensorDataset(...))``: it slices whole batches
    instead of collating items one by one, which is several times faster on a CPU.

    Args:
        inputs: (N, ...) tensor.
        targets: (N, ...) tensor (labels, or images for an autoencoder).
        batch_size: items per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: new random order every epoch, reproducible from ``seed``.
        transform: optional function applied to each input batch, e.g. augmentation
            or noise: ``(B, ...) -> (B, ...)``. It receives a ``torch.Generator``
            as its second argument so that it can be reproducible too.
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int = 128,
        shuffle: bool = False,
        seed: int = 0,
        transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        drop_last: bool = False,
    ) -> None:
        for name, t in (("inputs", inputs), ("targets", targets)):
            if not isinstance(t, torch.Tensor) or t.ndim < 1:
                raise TypeError(f"{name} must be a torch.Tensor of shape (N, ...), got {type(t).__name__}")
        if len(inputs) != len(targets):
            raise ValueError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a function (B, ...) -> (B, ...) or None, got {type(transform).__name__}")
        self.inputs, self.targets = inputs, targets
        self.batch_size = _validate.positive_int("batch_size", batch_size)
        self.shuffle = _validate.flag("shuffle", shuffle)
        self.drop_last = _validate.flag("drop_last", drop_last)
        self.transform = transform
        self.generator = torch.Generator().manual_seed(_validate.nonneg_int("seed", seed))

    def __len__(self) -> int:
        n, b = len(self.inputs), self.batch_size
        return n // b if self.drop_last else (n + b - 1) // b

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.inputs)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, min((i + 1) * self.batch_size, n))
            if order is None:
                x, y = self.inputs[sl], self.targets[sl]
            else:
                idx = order[sl]
                x, y = self.inputs[idx], self.targets[idx]
            if self.transform is not None:
                x = self.transform(x, self.generator)
            yield x, y


def sample_photo(size: int | None = None) -> np.ndarray:
    """A real colour photograph that works offline: Grace Hopper, shipped with matplotlib.

    Returns an (H, W, 3) float32 array in [0, 1] (H, W = 600, 512 unless ``size`` asks
    for a square crop of ``size`` x ``size`` pixels around the face, resized).
    """
    import matplotlib.cbook as cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        img = Image.open(f).convert("RGB")
        if size is not None:
            size = _validate.positive_int("size", size)
            img = img.crop((0, 40, 512, 552)).resize((size, size), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr


def to_chw(image: np.ndarray) -> np.ndarray:
    """(H, W, C) image -> (C, H, W), the layout PyTorch layers expect."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must have 3 dimensions (H, W, C), got shape {image.shape}")
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def to_hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) image -> (H, W, C), the layout matplotlib's imshow expects."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must have 3 dimensions (C, H, W), got shape {image.shape}")
    return np.ascontiguousarray(image.transpose(1, 2, 0))

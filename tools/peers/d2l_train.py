"""The d2l book's data pipeline and training loop, re-implemented from its description.

What it reproduces: Dive into Deep Learning (d2l.ai), chapter 7.6 "Convolutional Neural
Networks (LeNet)" and the helpers it uses (3.5 / 4.2 data loading, ``Accumulator``,
``accuracy``, ``evaluate_accuracy_gpu``, ``train_ch6``), in its PyTorch edition:

- the data: a torchvision dataset object with ``transforms.ToTensor()``: every image is
  a PIL image turned into a (1, 28, 28) float tensor in [0, 1] when it is fetched;
- a ``torch.utils.data.DataLoader`` over it (``shuffle=True`` for training) that fetches
  and collates the items one by one into batches;
- a plain loop per epoch: ``net.train()``; per batch ``zero_grad``, move to the device,
  forward, ``nn.CrossEntropyLoss``, ``backward``, ``step``; then, without gradients, an
  ``Accumulator`` adds the summed loss, the number of correct predictions (argmax compared
  with the labels) and the number of examples, each turned into a Python float; after the
  epoch the accuracy of a held-out loader (d2l: the test set; here: a validation split).

Left as in the course for a like-for-like comparison: the same model object and
initialization (d2l applies Xavier initialization to its own sigmoid LeNet), the same
optimizer and batch size as the project's run, and ``num_workers=0`` (d2l uses 4 worker
processes, which would add cores that the "same threads" comparison does not give the
project). Only the data pipeline and the loop differ from the project's path.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn


class Accumulator:
    """Sums ``n`` running totals (d2l's helper): ``add(*values)``, ``acc[i]``."""

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *args) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, i: int) -> float:
        return self.data[i]


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Number of correct predictions (not the fraction), as d2l counts them."""
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy(net: nn.Module, data_iter, device: torch.device | str = "cpu") -> float:
    """Accuracy of ``net`` over ``data_iter`` (eval mode, no gradients)."""
    net.eval()
    metric = Accumulator(2)
    with torch.no_grad():
        for x, y in data_iter:
            x, y = x.to(device), y.to(device)
            metric.add(accuracy(net(x), y), y.numel())
    return metric[0] / metric[1]


def mnist_loaders(root: str | Path, train_idx, val_idx, batch_size: int, num_workers: int = 0, seed: int = 0):
    """d2l-style loaders over torchvision's MNIST training split with ``ToTensor``:
    a shuffled training loader over ``train_idx`` and a validation loader over ``val_idx``."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    ds = datasets.MNIST(root=str(root), train=True, transform=transforms.ToTensor(), download=False)
    g = torch.Generator().manual_seed(seed)
    train_iter = DataLoader(Subset(ds, list(map(int, train_idx))), batch_size, shuffle=True,
                            num_workers=num_workers, generator=g)
    val_iter = DataLoader(Subset(ds, list(map(int, val_idx))), batch_size, shuffle=False, num_workers=num_workers)
    return train_iter, val_iter


def train_ch6(net: nn.Module, train_iter, val_iter, num_epochs: int, optimizer: torch.optim.Optimizer,
              device: torch.device | str = "cpu") -> dict:
    """d2l's ``train_ch6`` loop (without its plot). Returns per-epoch ``train_loss``,
    ``train_acc``, ``val_acc`` and ``epoch_seconds`` (the training pass over the loader,
    data fetching included; the validation pass not, as in cnnlib.train.fit)."""
    loss = nn.CrossEntropyLoss()
    net.to(device)
    out = {"train_loss": [], "train_acc": [], "val_acc": [], "epoch_seconds": []}
    for _ in range(num_epochs):
        metric = Accumulator(3)
        net.train()
        start = time.perf_counter()
        for x, y in train_iter:
            optimizer.zero_grad()
            x, y = x.to(device), y.to(device)
            y_hat = net(x)
            l = loss(y_hat, y)  # noqa: E741 (d2l's name)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * x.shape[0], accuracy(y_hat, y), x.shape[0])
        out["epoch_seconds"].append(time.perf_counter() - start)
        out["train_loss"].append(metric[0] / metric[2])
        out["train_acc"].append(metric[1] / metric[2])
        out["val_acc"].append(evaluate_accuracy(net, val_iter, device))
    return out

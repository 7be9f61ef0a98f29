"""Data-parallel training with ``torch.distributed``: one process per device, launched by torchrun.

Every process (a *rank*, 순위) holds the whole model, wrapped in
``DistributedDataParallel`` (DDP); a ``DistributedSampler`` gives each rank its own shard
of every epoch; after ``backward`` DDP averages the gradients of all ranks with an
all-reduce, so every rank takes the same optimizer step. The training loop is
:func:`cnnlib.train.fit` (its ``on_epoch_start`` hook reshuffles the sampler).

Two commands, both runnable with or without torchrun (without it: a world of one)::

    python -m torch.distributed.run --standalone --nproc_per_node=2 -m cnnlib.ddp train --n-train 4000
    python -m torch.distributed.run --standalone --nproc_per_node=2 -m cnnlib.ddp step --out DIR

- ``train``: the small ResNet on a Fashion-MNIST subset; rank 0 alone prints, evaluates on
  a validation split held out from the training set, writes the metrics (JSON) and the
  checkpoint. ``--fail-rank R --fail-mode crash|hang`` makes rank R fail on purpose, to
  see that the run exits non-zero with a message instead of hanging.
- ``step``: one SGD step of a tiny network on each rank's shard; each rank saves its
  gradients, weights and BatchNorm buffers to ``DIR/step_rank<R>.pt`` for a comparison
  with :func:`reference_step` (one process, the whole batch).

Backend: NCCL when CUDA is present (one GPU per process, ``cuda:LOCAL_RANK``), gloo on the
CPU otherwise. The process group has a timeout, so that a rank waiting for a dead or stuck
peer raises instead of waiting for ever.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DistributedSampler

from . import _validate
from .train import evaluate, fit, seed_everything

BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank, the world size, its device and the backend."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one that prints, evaluates and saves."""
        return self.rank == 0


def default_backend() -> str:
    """``"nccl"`` when CUDA is present (GPUs talk over NVLink / InfiniBand), else ``"gloo"`` (CPU)."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def _check_timeout(timeout_s: Any) -> float:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    return float(timeout_s)


def setup(timeout_s: float = 60.0, backend: str | None = None) -> DistInfo:
    """Join the process group that torchrun describes in ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without them, a world of one.

    ``timeout_s``: a collective operation (all-reduce, broadcast, barrier) that waits longer
    than this for another rank raises instead of hanging. ``backend``: ``"gloo"`` or
    ``"nccl"`` (default :func:`default_backend`); with NCCL this process uses GPU
    ``LOCAL_RANK``. Call :func:`teardown` at the end (or use :func:`process_group`).
    """
    timeout_s = _check_timeout(timeout_s)
    backend = default_backend() if backend is None else backend
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "nccl" and not torch.cuda.is_available():
        raise ValueError("backend 'nccl' needs CUDA GPUs; use 'gloo' on the CPU")
    if dist.is_initialized():
        raise RuntimeError("a process group is already initialized in this process: call teardown() first")
    env = os.environ
    kwargs: dict[str, Any] = {}
    if "RANK" in env and "WORLD_SIZE" in env:
        rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0"))
    else:  # plain `python -m cnnlib.ddp` or a notebook: a world of one, no network needed
        rank, world, local = 0, 1, 0
        kwargs = {"store": dist.HashStore(), "rank": 0, "world_size": 1}
    if backend == "nccl":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), **kwargs)
    return DistInfo(rank, world, local, backend, device)


def teardown() -> None:
    """Leave the process group (a no-op when none is initialized)."""
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def process_group(timeout_s: float = 60.0, backend: str | None = None) -> Iterator[DistInfo]:
    """``with process_group(30) as info: ...``: :func:`setup`, then :func:`teardown` even on errors."""
    info = setup(timeout_s, backend)
    try:
        yield info
    finally:
        teardown()


def is_main() -> bool:
    """True on rank 0, or when no process group is initialized."""
    return not dist.is_initialized() or dist.get_rank() == 0


def print0(*args: Any, **kwargs: Any) -> None:
    """``print`` on rank 0 only (N ranks would print every line N times)."""
    if is_main():
        print(*args, **kwargs, flush=True)


def save0(obj: Any, path: str | Path) -> bool:
    """``torch.save(obj, path)`` on rank 0 only, then a barrier so that no rank reads the
    file before it is complete. Returns True on the rank that wrote it."""
    path = Path(path)
    wrote = is_main()
    if wrote:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(obj, path)
    if dist.is_initialized():
        dist.barrier()
    return wrote


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``: ``seed + rank``, so that the ranks draw *different* random
    numbers (dropout masks, augmentation) while the run as a whole repeats. It collides
    across runs (seed 1, rank 0 draws what seed 0, rank 1 drew): runs meant to be
    independent need seeds at least ``world_size`` apart.

    The model's initial weights and the sampler's permutation must NOT use it: they must
    be the same on every rank (DDP broadcasts rank 0's weights anyway).
    """
    return _validate.nonneg_int("seed", seed) + _validate.nonneg_int("rank", rank)


class ShardedLoader:
    """Mini-batches of one rank's shard of in-memory tensors, chosen by a ``DistributedSampler``.

    The sampler permutes the N indices with ``seed + epoch`` (the same permutation on every
    rank), pads it to a multiple of ``world_size`` by repeating the first indices, and gives
    rank r the positions r, r + W, r + 2W, ...: the shards are disjoint (up to the padding)
    and of equal length, so every rank takes the same number of steps. Batches of
    ``batch_size`` are sliced from the shard as :class:`cnnlib.data.TensorLoader` does.

    inputs: (N, ...), targets: (N, ...) -> batches (B, ...), (B, ...).
    Call :meth:`set_epoch` before each epoch (``fit(on_epoch_start=loader.set_epoch)``).
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True, seed: int = 0) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
        self.batch_size = _validate.positive_int("batch_size", batch_size)
        world_size = _validate.positive_int("world_size", world_size)
        rank = _validate.nonneg_int("rank", rank)
        if rank >= world_size:
            raise ValueError(f"rank must be smaller than world_size {world_size}, got {rank}")
        self.inputs, self.targets = inputs, targets
        self.sampler = DistributedSampler(range(len(inputs)), num_replicas=world_size, rank=rank,
                                          shuffle=shuffle, seed=_validate.nonneg_int("seed", seed))

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (without it every epoch repeats the first one's order)."""
        self.sampler.set_epoch(epoch)

    def indices(self) -> torch.Tensor:
        """This rank's indices for the current epoch: (len(sampler),) int64."""
        return torch.tensor(list(self.sampler), dtype=torch.int64)

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self.indices()
        for i in range(0, len(idx), self.batch_size):
            batch = idx[i:i + self.batch_size]
            yield self.inputs[batch], self.targets[batch]


class AllReduceTimer:
    """A DDP communication hook that all-reduces each gradient bucket and adds up the time.

    The all-reduce is made *blocking* so that it can be timed: ``seconds`` is the time spent
    in communication, including the wait for the slowest rank to arrive. (DDP's default
    hook overlaps the all-reduce with the rest of ``backward``; with 2 CPU cores there is
    little to overlap.) ``calls`` counts buckets, ``bytes`` the gradient bytes reduced.
    """

    def __init__(self) -> None:
        self.seconds, self.calls, self.bytes = 0.0, 0, 0

    def attach(self, model: DDP) -> "AllReduceTimer":
        """Register on a ``DistributedDataParallel`` model; returns ``self``."""
        if not isinstance(model, DDP):
            raise TypeError(f"model must be a DistributedDataParallel model, got {type(model).__name__}")
        model.register_comm_hook(self, AllReduceTimer._hook)
        return self

    @staticmethod
    def _hook(state, bucket):  # (AllReduceTimer, dist.GradBucket) -> Future; DDP rejects string annotations
        buf = bucket.buffer()
        start = time.perf_counter()
        dist.all_reduce(buf)                  # sum over ranks ...
        buf.div_(dist.get_world_size())       # ... then the mean, as DDP's default hook
        state.seconds += time.perf_counter() - start
        state.calls += 1
        state.bytes += buf.numel() * buf.element_size()
        fut: torch.futures.Future = torch.futures.Future()
        fut.set_result(buf)
        return fut


def global_batch_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of ``x`` over the batches of ALL ranks.

    x: (N, C, H, W) on each rank -> mean (C,), var (C,): the statistics that
    ``nn.SyncBatchNorm`` normalizes with (plain ``BatchNorm2d`` uses this rank's batch
    only). Sums and sums of squares are all-reduced with the differentiable
    ``torch.distributed.nn.functional.all_reduce``, so gradients flow through them.
    Without a process group (or in a world of one): the statistics of ``x`` itself.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a tensor of shape (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    count = torch.tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=x.dtype, device=x.device)
    packed = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
    if dist.is_initialized() and dist.get_world_size() > 1:
        import warnings

        from torch.distributed.nn.functional import all_reduce   # the all-reduce with a backward

        with warnings.catch_warnings():   # "deprecated": its successor has no autograd support yet
            warnings.simplefilter("ignore", FutureWarning)
            packed = all_reduce(packed)
    c = x.shape[1]
    n = packed[-1]
    mean = packed[:c] / n
    return mean, packed[c:2 * c] / n - mean ** 2


# ----------------------------------------------------------------------------- one step
def tiny_net(batch_norm: bool = False) -> nn.Module:
    """A tiny classifier for the equivalence checks: (N, 1, 8, 8) -> (N, 3).

    conv 3x3 (4 channels) [-> BatchNorm2d] -> ReLU -> global average pooling -> linear.
    """
    layers: list[nn.Module] = [nn.Conv2d(1, 4, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)]
    return nn.Sequential(*layers)


def step_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random images (n, 1, 8, 8) and labels (n,) in 0..2, the same for the same seed."""
    n = _validate.positive_int("n", n)
    g = torch.Generator().manual_seed(_validate.nonneg_int("seed", seed))
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def one_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float = 0.1) -> dict[str, Any]:
    """One SGD step of ``model`` (plain or DDP) on x: (B, ...), y: (B,) with cross-entropy.

    Returns ``{"loss", "grads", "weights", "buffers", "bn_mean", "bn_var"}``: the gradients
    (after DDP's all-reduce), the weights after the step, the buffers (BatchNorm running
    statistics) and the batch statistics of the first BatchNorm's input on this rank
    (None without BatchNorm). Names are those of the plain model (no ``module.`` prefix).
    """
    _validate.module("model", model)
    _validate.tensor("x", x, "(B, ...)")
    _validate.tensor("y", y, "(B,)")
    inner = model.module if isinstance(model, DDP) else model
    bn = next((m for m in inner.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)), None)
    seen: dict[str, torch.Tensor] = {}

    def keep_input(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen.setdefault("x", inputs[0].detach())     # returns None: the output is left alone

    handle = bn.register_forward_hook(keep_input) if bn else None
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in inner.named_parameters()}
    optimizer.step()
    if handle is not None:
        handle.remove()
    stats = (seen["x"].mean((0, 2, 3)), seen["x"].var((0, 2, 3), unbiased=False)) if bn else (None, None)
    return {
        "loss": loss.item(), "grads": grads,
        "weights": {k: p.detach().clone() for k, p in inner.named_parameters()},
        "buffers": {k: b.detach().clone() for k, b in inner.named_buffers()},
        "bn_mean": stats[0], "bn_var": stats[1], "bn_input": seen.get("x"),
    }


def reference_step(world_size: int, batch_size: int, seed: int = 0, batch_norm: bool = False,
                   lr: float = 0.1) -> dict[str, Any]:
    """What :func:`distributed_step` on ``world_size`` ranks of ``batch_size`` should equal:
    one process, one step at batch ``world_size * batch_size`` (the union of the shards)."""
    n = _validate.positive_int("world_size", world_size) * _validate.positive_int("batch_size", batch_size)
    seed_everything(seed)
    model = tiny_net(batch_norm)
    x, y = step_data(n, seed)
    return one_step(model, x, y, lr)


def distributed_step(info: DistInfo, batch_size: int, seed: int = 0, batch_norm: bool = False,
                     lr: float = 0.1) -> dict[str, Any]:
    """One DDP step on this rank's shard of the :func:`step_data` batch of
    ``world_size * batch_size`` images (``DistributedSampler`` without shuffling: rank r
    gets images r, r + W, ...). Adds ``"indices"`` and the ``global_batch_stats`` of the
    BatchNorm input (``"global_mean"``, ``"global_var"``) to :func:`one_step`'s result."""
    batch_size = _validate.positive_int("batch_size", batch_size)
    seed_everything(seed)                       # the same initial weights on every rank
    model = DDP(tiny_net(batch_norm))
    x, y = step_data(info.world_size * batch_size, seed)
    loader = ShardedLoader(x, y, batch_size, info.rank, info.world_size, shuffle=False)
    xb, yb = next(iter(loader))
    out = one_step(model, xb, yb, lr)
    out["indices"] = loader.indices()
    if out["bn_input"] is not None:
        out["global_mean"], out["global_var"] = global_batch_stats(out["bn_input"])
    return out


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference between two dicts of tensors with the same keys."""
    for name, d in (("a", a), ("b", b)):
        if not isinstance(d, dict):
            raise TypeError(f"{name} must be a dict of tensors, got {type(d).__name__}")
    if a.keys() != b.keys():
        raise ValueError(f"a and b must have the same keys, got {sorted(a)} and {sorted(b)}")
    return max((float((a[k].double() - b[k].double()).abs().max()) for k in a), default=0.0)


# ----------------------------------------------------------------------------- training
def load_split(n_train: int, n_val: int, seed: int = 0, data: str | Path | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fashion-MNIST training images: a subset of ``n_train`` for training and ``n_val`` held
    out for validation (disjoint, both from the training set; the test set is not used).

    ``data``: a ``.pt`` file with ``train_x, train_y, val_x, val_y`` to use instead (saves
    each worker loading the dataset). Returns train_x (n, 1, 28, 28), train_y (n,), val_x, val_y.
    """
    if data is not None:
        d = torch.load(data)
        return d["train_x"], d["train_y"], d["val_x"], d["val_y"]
    from .data import load_dataset

    n_train, n_val = _validate.positive_int("n_train", n_train), _validate.positive_int("n_val", n_val)
    x, y = load_dataset("fashion_mnist", "train", n=n_train + n_val, seed=seed)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def warmup_lambda(warmup_steps: int):
    """Linear warm-up factor for ``LambdaLR``: (step + 1) / warmup_steps up to 1 (Goyal et al., 2017)."""
    warmup_steps = _validate.nonneg_int("warmup_steps", warmup_steps)
    return lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0


def _inject_failure(mode: str, rank: int) -> None:
    if mode == "crash":
        raise RuntimeError(f"injected failure on rank {rank} (--fail-rank {rank} --fail-mode crash)")
    print(f"rank {rank}: hanging on purpose (--fail-mode hang)", file=sys.stderr, flush=True)
    time.sleep(3600)


def _command_args(args: Any, info: Any) -> None:
    if not isinstance(args, argparse.Namespace):
        raise TypeError(f"args must be the parsed command line (argparse.Namespace), got {type(args).__name__}")
    if not isinstance(info, DistInfo):
        raise TypeError(f"info must be the DistInfo of this process (see setup()), got {type(info).__name__}")


def train(args: argparse.Namespace, info: DistInfo) -> dict[str, Any] | None:
    """The ``train`` command: DDP training of ``small_resnet(stem_stride=2)`` with :func:`fit`.

    Returns the metrics on rank 0 (also written to ``--metrics``), None on the others.
    """
    from .data import TensorLoader
    from .models.resnet import small_resnet

    _command_args(args, info)
    seed_everything(args.seed)                           # the same initial weights on every rank
    model = small_resnet(stem_stride=2).to(info.device)
    ddp = DDP(model, device_ids=[info.local_rank] if info.device.type == "cuda" else None)
    timer = AllReduceTimer().attach(ddp)
    seed_everything(rank_seed(args.seed, info.rank))     # different random draws per rank
    train_x, train_y, val_x, val_y = load_split(args.n_train, args.n_val, args.seed, args.data)
    loader = ShardedLoader(train_x, train_y, args.batch_size, info.rank, info.world_size,
                           shuffle=True, seed=args.seed)  # one permutation, cut in shards
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=args.momentum)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_lambda(args.warmup_steps)) if args.warmup_steps else None

    def on_epoch_start(epoch: int) -> None:
        if info.rank == args.fail_rank:
            _inject_failure(args.fail_mode, info.rank)
        loader.set_epoch(epoch)

    print0(f"cnnlib.ddp: {info.world_size} process(es), backend {info.backend}, device {info.device.type}, "
           f"{len(train_x)} training images, batch {args.batch_size} per process "
           f"(effective {args.batch_size * info.world_size}), {len(loader)} steps per epoch")
    dist.barrier()
    start = time.perf_counter()
    hist = fit(ddp, loader, args.epochs, optimizer, scheduler=scheduler, device=info.device,
               progress=info.is_main, on_epoch_start=on_epoch_start)
    wall = time.perf_counter() - start
    slowest = torch.tensor([wall, timer.seconds], dtype=torch.float64)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    wall, comm = slowest.tolist()
    metrics = None
    if info.is_main:
        val_loss, val_acc = evaluate(model, TensorLoader(val_x, val_y, 500), device=info.device)
        samples = len(loader.sampler) * info.world_size * args.epochs
        metrics = {
            "world_size": info.world_size, "backend": info.backend, "device": info.device.type,
            "epochs": args.epochs, "batch_per_process": args.batch_size,
            "effective_batch": args.batch_size * info.world_size, "steps": len(loader) * args.epochs,
            "samples": samples, "train_seconds": wall, "samples_per_second": samples / wall,
            "allreduce_seconds": comm, "allreduce_share": comm / wall, "allreduce_calls": timer.calls,
            "allreduce_bytes": timer.bytes, "train_loss_rank0": hist.train_loss[-1],
            "val_loss": val_loss, "val_acc": val_acc,
        }
        print0(f"cnnlib.ddp: {samples} samples in {wall:.2f} s ({samples / wall:.0f} samples/s), "
               f"all-reduce {comm:.2f} s ({comm / wall:.0%}), validation accuracy {val_acc:.4f}")
        if args.metrics:
            Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
            Path(args.metrics).write_text(json.dumps(metrics, indent=1))
    if args.checkpoint:
        save0({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": args.epochs,
               "args": vars(args)}, args.checkpoint)
    return metrics


def step(args: argparse.Namespace, info: DistInfo) -> None:
    """The ``step`` command: :func:`distributed_step` without and with BatchNorm, saved per rank."""
    _command_args(args, info)
    result = {name: distributed_step(info, args.batch_size, args.seed, batch_norm=bn, lr=args.lr)
              for name, bn in (("plain", False), ("bn", True))}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(result, out / f"step_rank{info.rank}.pt")
    print0(f"cnnlib.ddp step: {info.world_size} rank(s) x batch {args.batch_size}, saved to {out}")


def explain_failure(err: BaseException, timeout_s: float) -> str:
    """A one-line diagnosis of an error raised inside a distributed run."""
    if not isinstance(err, BaseException):
        raise TypeError(f"err must be an exception, got {type(err).__name__}")
    timeout_s = _check_timeout(timeout_s)
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    low = str(err).lower()
    if "injected failure" in low:
        return text
    if "timed out" in low or "timeout" in low:
        return (f"a collective operation waited longer than the process-group timeout ({timeout_s:g} s) "
                f"for another rank, which has crashed or hung (see its own message) [{text}]")
    if any(w in low for w in ("connection", "closed", "reset by peer", "broken pipe")):
        return f"lost the connection to another rank, which has probably crashed (see its own message) [{text}]"
    return f"{type(err).__name__}: {text}"


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m cnnlib.ddp``."""
    p = argparse.ArgumentParser(prog="python -m cnnlib.ddp", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--timeout", type=float, default=60.0, help="process-group timeout in seconds")
    common.add_argument("--backend", choices=BACKENDS, default=None, help="default: nccl with CUDA, else gloo")
    common.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    t = sub.add_parser("train", parents=[common], help="train the small ResNet on Fashion-MNIST")
    t.add_argument("--n-train", type=int, default=4000)
    t.add_argument("--n-val", type=int, default=1000)
    t.add_argument("--data", default=None, help=".pt file with train_x, train_y, val_x, val_y")
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--batch-size", type=int, default=64, help="per process")
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--warmup-steps", type=int, default=0)
    t.add_argument("--metrics", default=None, help="JSON file written by rank 0")
    t.add_argument("--checkpoint", default=None, help="checkpoint written by rank 0")
    t.add_argument("--fail-rank", type=int, default=-1, help="this rank fails on purpose (a test)")
    t.add_argument("--fail-mode", choices=("crash", "hang"), default="crash")
    s = sub.add_parser("step", parents=[common], help="one step of a tiny net; gradients saved per rank")
    s.add_argument("--batch-size", type=int, default=4, help="per process")
    s.add_argument("--lr", type=float, default=0.1)
    s.add_argument("--out", required=True, help="folder for step_rank<R>.pt")
    return p


def _validate_arg(a: Any) -> Any:
    if not isinstance(a, (str, int, float, os.PathLike)) or isinstance(a, bool):
        raise TypeError(f"args must hold strings (or numbers, paths), got {a!r}")
    return a


def torchrun(args: Sequence[str], nproc: int = 2, timeout_s: float = 300.0) -> subprocess.CompletedProcess:
    """Launch ``python -m torch.distributed.run --standalone --nproc_per_node=nproc -m cnnlib.ddp *args``
    on this machine and wait for it; returns the finished process (``returncode``, ``stdout``,
    ``stderr`` as text). One thread per worker (``OMP_NUM_THREADS=1``); this checkout's
    cnnlib is put on the workers' ``PYTHONPATH``.
    """
    args = [str(_validate_arg(a)) for a in _validate.iterable("args", args, "a list of command-line arguments")]
    nproc = _validate.positive_int("nproc", nproc)
    timeout_s = _check_timeout(timeout_s)
    root = str(Path(__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "cnnlib.ddp", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s, cwd=root)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command in this process's rank; 0 on success, 1 (with a message) on failure."""
    args = parser().parse_args(argv)
    torch.set_num_threads(_validate.positive_int("threads", args.threads))
    try:
        with process_group(args.timeout, args.backend) as info:
            (train if args.command == "train" else step)(args, info)
    except Exception as err:  # noqa: BLE001 - every failure of a rank ends in one clear line
        rank = os.environ.get("RANK", "0")
        print(f"cnnlib.ddp: rank {rank} failed: {explain_failure(err, args.timeout)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

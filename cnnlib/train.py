"""Training: seeding, device choice, one ``fit``/``evaluate`` loop, accuracy.

Notebooks call :func:`fit` instead of writing their own loops, except where the loop
itself is what a lesson teaches.
"""
from __future__ import annotations

import math
import numbers
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import t as student_t
from torch import nn
from tqdm.std import tqdm

from . import _validate

Batch = tuple[torch.Tensor, torch.Tensor]


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch; with ``deterministic`` also ask PyTorch for
    deterministic algorithms (on CPU and CUDA), so a run repeats on the same machine.

    Results can still differ across machines (thread counts, CPU instruction sets).
    """
    _validate.nonneg_int("seed", seed)
    deterministic = _validate.flag("deterministic", deterministic)  # before any generator is seeded
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if "torch._inductor.config" in sys.modules:  # torch.compile in use: tell the compiler too
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    else:  # the same switch, without importing the compiler's config (1.5 s, sympy included)
        torch._C._set_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA when present, else Apple's MPS (a Mac's GPU), else the CPU.

    ``prefer="cpu"`` (or any device string) forces one. MPS serves single-process runs
    only: :mod:`cnnlib.ddp` trains on CUDA (NCCL) or on the CPU (gloo).
    """
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is the label.

    logits: (N, num_classes); labels: (N,) int64 -> float in [0, 1].
    """
    _validate.tensor("logits", logits, "(N, num_classes)")
    _validate.tensor("labels", labels, "(N,)")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, num_classes), got {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    return (logits.argmax(dim=1) == labels).float().mean().item()


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run. ``metric`` is accuracy for classifiers."""

    train_loss: list[float] = field(default_factory=list)
    train_metric: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    #: per training batch: the loss, the metric and the position in epochs (0.5 = half way
    #: through the first epoch), so that curves have several points per epoch
    batch_loss: list[float] = field(default_factory=list)
    batch_metric: list[float] = field(default_factory=list)
    batch_epoch: list[float] = field(default_factory=list)
    #: torch's intra-op thread count while the batches ran (the rule of :func:`threads_for`;
    #: fit restores the caller's count when it returns)
    threads: int | None = None

    @property
    def total_time(self) -> float:
        """Seconds spent training, all epochs."""
        return float(sum(self.epoch_time))


def _stderr_is_terminal() -> bool:
    """True in a terminal; False in Jupyter, under nbval or with stderr redirected to a file."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


# ---------------------------------------------------------------- thread counts
#
# THE RULE (one place for the whole course; fit applies it to every training run):
#
#   threads = 1                            if the work of one batch is small
#                                          (forward FLOPs < PARALLEL_MIN_FLOPS), or on a
#                                          non-CPU device leave the count as it is;
#   threads = min(requested, usable CPUs)  otherwise (the CPUs this process may run on).
#
# It only ever LOWERS the count the caller set (torch.set_num_threads): a notebook that
# asks for 1 thread keeps 1. It does NOT look at the load: the thread count changes the
# order in which floating-point sums are taken (measured: three SGD steps of a small CNN
# at 1 and at 2 threads differ by 4e-7), and over an epoch such differences grow, so a
# count that followed the load would make a run's numbers depend on what else the
# machine was doing. On one machine, the same seed gives the same numbers.
#
# Why. PyTorch's CPU kernels run on an OpenMP pool (libgomp in the pip wheels, shared by
# MKL). After each parallel region libgomp's workers busy-wait for the next one (the
# default OMP_WAIT_POLICY), so on LeNet-sized tensors, where a training step is a few
# hundred tiny parallel regions, two threads do not finish sooner than one, and spend
# about twice the CPU. When another process also wants the cores, a spinning worker takes
# the core the other thread of its own pool is waiting for, and every barrier waits for a
# time slice: measured on a busy 2-core machine, a LeNet step (batch 128) took 560-870 ms
# at 2 threads against 57-111 ms at 1 thread (8-10x the CPU time), and 70-96 ms at 2
# threads with OMP_WAIT_POLICY=PASSIVE. The wait policy is read once, when torch loads
# libgomp, so a library cannot change it later; the thread count can be changed at any
# time, so that is what the rule sets.
#
# The wait policy too: importing cnnlib sets OMP_WAIT_POLICY=PASSIVE (os.environ.setdefault,
# so a value from the shell wins), which takes effect when cnnlib is imported BEFORE torch
# (scripts, the bench's workers); a notebook kernel that imports torch first needs it in
# its environment: `make lab` starts JupyterLab with it (tools/lab.py), so a learner's
# kernels sleep instead of spinning when the laptop is busy. Measured (fit, LeNet channels_last, 20 batches of 128, fresh processes,
# 2 interleaved rounds, medians, on a 2-core machine that other jobs kept at a load
# average of 6-13): with this rule bypassed, 2 threads took 5.3x as long as 1 thread with
# the default policy (7.1x beside a 2-thread background training job) and 0.88x with
# PASSIVE (0.56x beside the job); with the rule (LeNet -> 1 thread) 0.8-1.1x either way.
# The crossover below was measured on a quiet machine with the passive policy; with the
# default (spinning) policy two threads could start to pay a little earlier when idle.
#
# PARALLEL_MIN_FLOPS is 1e9 forward FLOPs per batch, a round number inside the measured
# crossover on a 2-core machine, which lies somewhere between 6.5e8 and 1.5e9. Measured
# (training steps of small_resnet, batch 128, channels_last, one process with cnnlib
# imported first, so OMP_WAIT_POLICY=PASSIVE; 1 and 2 threads interleaved, medians of 4
# rounds of 15 steps, quiet machine): widths (16, 32, 64), 6.5e8 FLOPs per batch: 2 threads
# took 1.08x as long as 1 (make bench under the earlier threshold of 5e8, which gave it 2
# threads: 1.13x); (24, 48, 96), 1.5e9: 0.80x as long; (32, 64, 128), 2.6e9: 0.72x. So LeNet
# at batch 128 (1.1e8) and notebook 10's CPU ResNet (6.5e8) train on one thread, a model of
# 1.5e9 FLOPs per batch or more on two.

PARALLEL_MIN_FLOPS = 1e9


def _forward_flops(model: nn.Module, batch: torch.Tensor) -> float | None:
    """Forward FLOPs of ``model`` on ``batch`` (multiply-adds of Conv/Linear layers x 2),
    counted with forward hooks on a 2-item slice in eval mode without gradients (no
    dropout, no batch-norm update, no random numbers drawn), scaled to the whole batch.
    None when the model cannot be run on the slice (it is then left to its thread count)."""
    if any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in model.modules()):
        return None  # a first forward would initialize (draw) its weights
    total = [0.0]

    def hook(mod, inputs, out):
        if isinstance(out, torch.Tensor):
            if isinstance(mod, nn.modules.conv._ConvNd):
                per_out = mod.in_channels // mod.groups * math.prod(mod.kernel_size)
            else:
                per_out = mod.in_features
            total[0] += 2.0 * out.numel() * per_out

    layers = (nn.modules.conv._ConvNd, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, layers)]
    was_training, threads = model.training, torch.get_num_threads()
    n = min(2, len(batch))
    try:
        model.eval()
        torch.set_num_threads(1)  # two items: a thread pool would only cost (see THE RULE)
        with torch.no_grad():
            model(batch[:n])
    except Exception:  # a model that needs other inputs: no estimate
        return None
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
        for h in handles:
            h.remove()
    return total[0] * len(batch) / max(n, 1)


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask on Linux, else ``os.cpu_count()``), >= 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_for(model: nn.Module, batch: torch.Tensor, requested: int | None = None) -> int:
    """Intra-op threads to train ``model`` on batches like ``batch`` (see THE RULE above).

    model: the network; batch: one input batch (B, ...) on the training device;
    requested: the most threads to use (default ``torch.get_num_threads()``).
    Returns 1 for small work per batch (forward FLOPs < ``PARALLEL_MIN_FLOPS``), else
    ``min(requested, usable_cores())``; on a non-CPU device ``requested`` unchanged.
    Never more than ``requested``.
    """
    _validate.module("model", model)
    _validate.tensor("batch", batch, "(B, ...)")
    if batch.ndim < 1 or len(batch) == 0:
        raise ValueError(f"batch must be a non-empty (B, ...) tensor of inputs, got shape {tuple(batch.shape)}")
    requested = torch.get_num_threads() if requested is None else _validate.positive_int("requested", requested)
    if batch.device.type != "cpu" or requested == 1:
        return requested
    flops = _forward_flops(model, batch)
    if flops is None:
        return requested
    if flops < PARALLEL_MIN_FLOPS:
        return 1
    return min(requested, usable_cores())


class _ThreadRule:
    """fit's use of :func:`threads_for`: applied at the first training batch (the count the
    batches run on is recorded in ``hist.threads``), undone at the end."""

    def __init__(self, hist: History) -> None:
        self.hist = hist
        self.before: int | None = None

    def apply(self, model: nn.Module, x: torch.Tensor) -> None:
        if self.before is None:
            self.before = torch.get_num_threads()
            threads = threads_for(model, x, self.before)
            if threads != self.before:
                torch.set_num_threads(threads)
            self.hist.threads = torch.get_num_threads()

    def restore(self) -> None:
        if self.before is not None and torch.get_num_threads() != self.before:
            torch.set_num_threads(self.before)
        self.before = None


def _run_epoch(model, loader, loss_fn, metric, device, optimizer=None, scheduler=None, desc="", progress=True,
               on_batch=None, first_batch=None):
    training = optimizer is not None
    model.train(training)
    total_loss, total_metric, count = 0.0, 0.0, 0
    # A text bar only where a terminal redraws it in place. In a notebook every redraw is a
    # stderr output that stays as an empty (pink) strip once the bar erases itself, and a
    # widget bar would be a display output that nbval compares; fit's one line per epoch
    # is the progress report there.
    bar = tqdm(loader, desc=desc, leave=False, disable=not (progress and _stderr_is_terminal()), mininterval=1.0)
    with torch.set_grad_enabled(training):
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if first_batch is not None:  # fit's thread rule, once per run
                first_batch(model, x)
                first_batch = None
            out = model(x)
            loss = loss_fn(out, y)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            n = len(x)
            batch_loss = loss.item()
            batch_metric = metric(out.detach(), y) if metric is not None else float("nan")
            total_loss += batch_loss * n
            if metric is not None:
                total_metric += batch_metric * n
            count += n
            if on_batch is not None:
                on_batch(batch_loss, batch_metric)
    bar.close()
    if count == 0:
        raise ValueError("loader yielded no batches (an empty dataset, or drop_last with fewer items "
                         "than batch_size): there is nothing to average")
    return total_loss / count, (total_metric / count if metric is not None else float("nan"))


def fit(
    model: nn.Module,
    train_loader: Iterable[Batch],
    epochs: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    metric: Callable[[torch.Tensor, torch.Tensor], float] | None = accuracy,
    val_loader: Iterable[Batch] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_epoch_start: Callable[[int], None] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``.

    Each batch is ``(x, y)``: for a classifier x: (B, C, H, W) images and y: (B,) labels;
    for an autoencoder y is the target image. ``scheduler`` is stepped after every batch
    (e.g. ``OneCycleLR``). One line per epoch is printed (``progress=False``: none); in a
    terminal a tqdm bar also shows progress within the epoch (not in notebooks, where it
    would leave an empty stderr strip per epoch). ``on_epoch_start(epoch)`` is called with
    the 1-based epoch number before each epoch, e.g. ``sampler.set_epoch`` so that a
    ``DistributedSampler`` reshuffles (see :mod:`cnnlib.ddp`, which trains a
    ``DistributedDataParallel`` model with this loop).

    Returns a :class:`History` with per-epoch losses, metrics, times and learning rates,
    and the loss and metric of every training batch (``batch_loss``, ``batch_epoch``). The
    training figures are measured in train mode (dropout on, BatchNorm on batch statistics)
    while the weights change; the validation figures after the epoch, in eval mode.
    """
    epochs = _validate.positive_int("epochs", epochs)
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    hist = History()
    if on_epoch_start is not None and not callable(on_epoch_start):
        raise TypeError(f"on_epoch_start must be callable (epoch -> None), got {type(on_epoch_start).__name__}")
    rule = _ThreadRule(hist)  # thread count per workload (see threads_for), undone when fit returns
    try:
        return _fit_epochs(model, train_loader, epochs, optimizer, loss_fn, metric, val_loader, scheduler,
                           device, progress, on_epoch_start, hist, rule)
    finally:
        rule.restore()


def _fit_epochs(model, train_loader, epochs, optimizer, loss_fn, metric, val_loader, scheduler, device,
                progress, on_epoch_start, hist, rule):
    for epoch in range(1, epochs + 1):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        batches: list[tuple[float, float]] = []
        tl, tm = _run_epoch(model, train_loader, loss_fn, metric, device, optimizer, scheduler,
                            desc=f"epoch {epoch}/{epochs}", progress=progress,
                            on_batch=lambda loss, m: batches.append((loss, m)), first_batch=rule.apply)
        for i, (bl, bm) in enumerate(batches, 1):
            hist.batch_loss.append(bl)
            hist.batch_metric.append(bm)
            hist.batch_epoch.append(epoch - 1 + i / len(batches))
        hist.epoch_time.append(time.perf_counter() - start)
        hist.train_loss.append(tl)
        hist.train_metric.append(tm)
        hist.lr.append(lr)
        line = f"epoch {epoch}/{epochs}: train loss {tl:.4f}"
        if metric is not None:
            line += f", train acc {tm:.4f}"
        if val_loader is not None:
            vl, vm = evaluate(model, val_loader, loss_fn, metric, device)
            hist.val_loss.append(vl)
            hist.val_metric.append(vm)
            line += f", val loss {vl:.4f}" + (f", val acc {vm:.4f}" if metric is not None else "")
        if progress:
            print(line + f" ({hist.epoch_time[-1]:.1f} s)")
    return hist


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    metric: Callable[[torch.Tensor, torch.Tensor], float] | None = accuracy,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Mean loss and mean metric of ``model`` over ``loader`` (metric NaN if None).

    ``device``: where to run; by default the device of the model's parameters (the CPU
    for a model without any)."""
    device = torch.device(device) if device is not None else _model_device(model)
    return _run_epoch(model, loader, loss_fn, metric, device, progress=False)


def _model_device(model: nn.Module) -> torch.device:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    first = next(model.parameters(), None)
    if first is None:
        first = next(model.buffers(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable[Batch], device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and true labels over a loader: two (N,) int64 tensors on the CPU."""
    device = torch.device(device) if device is not None else _model_device(model)
    model.eval()
    preds, labels = [], []
    for x, y in loader:
        preds.append(model(x.to(device)).argmax(dim=1).cpu())
        labels.append(y.cpu())
    return torch.cat(preds), torch.cat(labels)


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts; row = true class, column = predicted.

    preds, labels: (N,) integer class indices in ``0 .. num_classes-1`` (as
    ``torchmetrics``/``sklearn`` take them); anything else is refused, not miscounted.
    """
    num_classes = _validate.positive_int("num_classes", num_classes)
    for name, t in (("preds", preds), ("labels", labels)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(t).__name__}")
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer class indices, got dtype {t.dtype} "
                            "(for logits, pass logits.argmax(dim=1))")
        if t.ndim != 1:
            raise ValueError(f"{name} must have shape (N,), got {tuple(t.shape)}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1} for num_classes={num_classes}, "
                             f"got values in [{int(t.min())}, {int(t.max())}]")
    if preds.shape != labels.shape:
        raise ValueError(f"preds and labels must have the same shape, got {tuple(preds.shape)} and {tuple(labels.shape)}")
    idx = labels.long() * num_classes + preds.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


class Timer:
    """Context manager measuring wall-clock seconds: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------- runs over seeds

@dataclass(frozen=True)
class SeedStats:
    """One metric measured over several seeds: the values, their mean and sample sd.

    ``f"{stats}"`` reads ``0.912 ± 0.004 (n=3)``; ``stats.format(digits)`` chooses the
    decimals. The sd is the sample standard deviation (``ddof=1``), 0 for one value.
    """

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        vals = _validate.iterable("values", self.values, "an iterable of real numbers")
        if not vals:
            raise ValueError("values must hold at least one number, got none")
        out = []
        for i, v in enumerate(vals):
            if isinstance(v, torch.Tensor) and v.numel() == 1:  # e.g. a loss tensor
                v = v.item()
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise TypeError(f"values[{i}] must be a real number, got {v!r} ({type(v).__name__})")
            if not math.isfinite(float(v)):
                raise ValueError(f"values[{i}] must be finite, got {v}")
            out.append(float(v))
        object.__setattr__(self, "values", tuple(out))

    @classmethod
    def of(cls, values: Iterable[float]) -> "SeedStats":
        """``SeedStats`` of finite real numbers (at least one), e.g. ``SeedStats.of([0.91, 0.92])``."""
        return cls(values)

    @property
    def n(self) -> int:
        """Number of seeds."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """Mean over seeds."""
        return float(np.mean(self.values))

    @property
    def sd(self) -> float:
        """Sample standard deviation over seeds (ddof=1); 0.0 for a single seed."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0

    def format(self, digits: int = 3) -> str:
        """``mean ± sd (n=...)`` with ``digits`` decimals."""
        digits = _validate.nonneg_int("digits", digits)
        return f"{self.mean:.{digits}f} \u00b1 {self.sd:.{digits}f} (n={self.n})"

    def __str__(self) -> str:
        return self.format(3)


def over_seeds(
    run: Callable[[int], float | Mapping[str, float]],
    seeds: Sequence[int] = (0, 1, 2),
    deterministic: bool = True,
) -> SeedStats | dict[str, SeedStats]:
    """Run a recipe once per seed and summarize it: ``run(seed)`` returns one number
    (-> :class:`SeedStats`) or a dict of numbers with the same keys every time
    (-> ``dict[str, SeedStats]``). Before each call every generator is seeded with
    :func:`seed_everything` ``(seed, deterministic)``, so the run needs no seeding of its own.

    Use at least 3 seeds for any claim that compares runs (see :func:`clear_difference`).
    """
    if not callable(run):
        raise TypeError(f"run must be callable (seed -> float or dict of floats), got {type(run).__name__}")
    seeds = _validate.iterable("seeds", seeds, "a sequence of non-negative integer seeds")
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got none")
    seeds = [_validate.nonneg_int(f"seeds[{i}]", s) for i, s in enumerate(seeds)]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct (a repeated seed repeats the same run), got {seeds}")
    deterministic = _validate.flag("deterministic", deterministic)
    results = []
    for seed in seeds:
        seed_everything(seed, deterministic)
        results.append(run(seed))
    if all(isinstance(r, Mapping) for r in results):
        keys = list(results[0])
        for seed, r in zip(seeds, results):
            if list(r) != keys:
                raise ValueError(f"run must return the same keys for every seed: seed {seeds[0]} gave "
                                 f"{keys}, seed {seed} gave {list(r)}")
        return {k: SeedStats.of([r[k] for r in results]) for k in keys}
    if any(isinstance(r, Mapping) for r in results):
        raise ValueError("run must return a number for every seed or a dict for every seed, not a mix")
    return SeedStats.of(results)


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of two :class:`SeedStats`: ``diff = a.mean - b.mean``,
    ``t = diff / se`` with ``se = sqrt(a.sd**2/a.n + b.sd**2/b.n)``, the Welch-Satterthwaite
    degrees of freedom ``df`` and the two-sided p-value ``p``.
    """

    diff: float
    t: float
    df: float
    p: float

    def __str__(self) -> str:
        return f"diff {self.diff:+.3g}, t = {self.t:.2f}, df = {self.df:.1f}, p = {self.p:.2g}"


def _two_seed_stats(a: SeedStats, b: SeedStats) -> None:
    for name, s in (("a", a), ("b", b)):
        if not isinstance(s, SeedStats):
            raise TypeError(f"{name} must be a SeedStats (from over_seeds or SeedStats.of), got {type(s).__name__}")
        if s.n < 2:
            raise ValueError(f"{name} must hold at least 2 seeds to have a spread, got {s.n}")


def welch(a: SeedStats, b: SeedStats) -> Welch:
    """Welch's t-test of ``a`` against ``b`` (two-sided), as ``scipy.stats.ttest_ind(...,
    equal_var=False)`` computes it. Both need at least 2 seeds. With no spread in either
    (``se == 0``) the test is degenerate: ``t = ±inf, p = 0`` when the means differ,
    ``t = 0, p = 1`` when they are equal.
    """
    _two_seed_stats(a, b)
    diff = a.mean - b.mean
    va, vb = a.sd ** 2 / a.n, b.sd ** 2 / b.n
    se2 = va + vb
    if se2 == 0.0:
        if diff == 0.0:
            return Welch(0.0, 0.0, float(a.n + b.n - 2), 1.0)
        return Welch(diff, math.copysign(math.inf, diff), float(a.n + b.n - 2), 0.0)
    t = diff / math.sqrt(se2)
    den = va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1)
    df = se2 ** 2 / den if den > 0 else float(a.n + b.n - 2)   # den underflows for spreads below ~1e-80
    p = float(2.0 * student_t.sf(abs(t), df))
    return Welch(diff, t, df, min(p, 1.0))


def clear_difference(a: SeedStats, b: SeedStats, alpha: float = 0.05) -> int:
    """+1 if ``a``'s mean is above ``b``'s and Welch's two-sided t-test (:func:`welch`)
    rejects equal means at level ``alpha`` (``p < alpha``); -1 if below and rejected; 0
    otherwise ("no measurable difference"). Both need at least 2 seeds: with one seed
    there is no spread to compare against.

    With 3 seeds each the test has only 2-4 degrees of freedom, so the difference must
    be about 2.8-4.3 standard errors (``t.ppf(0.975, df)``), not the 2 of a normal
    approximation: few seeds call only large, consistent gaps. Each call is one test at
    level ``alpha``, not corrected for the other comparisons a notebook makes. When no
    seed changed anything (both spreads 0) any difference of the means counts: there is
    no noise to compare it with, so such a verdict says nothing about other seeds.
    """
    _two_seed_stats(a, b)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a significance level strictly between 0 and 1, got {alpha!r}")
    w = welch(a, b)
    if w.p < alpha and w.diff != 0:
        return 1 if w.diff > 0 else -1
    return 0


ABOVE_SAME_BELOW = ("clearly above", "no measurable difference from", "clearly below")


def difference_in_words(a: SeedStats, b: SeedStats, words: Sequence[str] = ABOVE_SAME_BELOW,
                        alpha: float = 0.05) -> str:
    """:func:`clear_difference` of ``a`` against ``b`` as words: ``words[0]`` for +1 (a's mean
    clearly above b's), ``words[1]`` for 0 (no measurable difference), ``words[2]`` for -1.

    ``words`` defaults to ``ABOVE_SAME_BELOW``, to be read as "a is <words> b"; a notebook
    that compares losses or gaps passes its own, e.g. ``("clearly higher than", "no
    measurable difference from", "clearly lower than")``.
    """
    if isinstance(words, str) or not isinstance(words, Sequence) or len(words) != 3 \
            or not all(isinstance(w, str) for w in words):
        raise TypeError(f"words must be three strings (for +1, 0 and -1), got {words!r}")
    return {1: words[0], 0: words[1], -1: words[2]}[clear_difference(a, b, alpha)]

"""One small-model budget for the family comparison of notebooks 06 (AlexNet), 07 (VGG)
and 08 (NiN / GoogLeNet): the same data, the same recipe, the same baselines.

Every family's small model is trained on the same images for the same number of steps
with the same optimizer, next to two baselines that any CNN must be compared with:
multinomial **logistic regression** (one dense layer on the 784 pixels) and **LeNet**
(notebook 05). Curves and every choice use a validation split held out from the
training images; the test set is left to the notebooks, read once per final model.

- :data:`BUDGET` -- the documented setting (a :class:`Budget`).
- :func:`budget_data` -- ``(train_x, train_y, val_x, val_y)`` for a budget.
- :func:`logistic_regression` -- the linear baseline.
- :class:`EpochChunks` -- a loader that hands out an epoch in ``parts`` pieces, so that
  :func:`cnnlib.train.fit` records several points per epoch.
- :func:`same_init` -- one initialisation rule for every model (He for the
  hidden layers, PyTorch's default for the output layer).
- :func:`train_on_budget` -- default init + Adam + one-cycle on the budget; returns a
  ``History`` with ``epochs * evals_per_epoch`` points.
- :func:`train_family` -- every model of a family, once per seed of the budget: the
  trained models, their histories and validation accuracies (a :class:`FamilyRuns`).
- :func:`evaluate_family` -- each final model read once on a test loader, mean +- sd per
  model, and :func:`versus_baseline`, each model's test accuracy set against the linear model.
- :func:`plot_seed_curves` -- mean +- sd over seeds of those curves, whole-epoch ticks.
- :func:`weight_layers`, :func:`longest_path` -- depth as the papers count it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .. import _validate
from ..data import TensorLoader, load_dataset, train_val_split
from ..shapes import count_params
from ..train import History, SeedStats, difference_in_words, evaluate, fit, over_seeds


@dataclass(frozen=True)
class Budget:
    """A training budget: which images, how many steps, which recipe.

    ``n_images`` training images of ``dataset`` are drawn (``seed=0``), ``n_val`` of them
    are held out for validation; the rest are trained on for ``epochs`` epochs of
    ``batch_size`` with Adam and a one-cycle schedule peaking at ``lr``; the validation
    accuracy is measured ``evals_per_epoch`` times per epoch.
    """

    dataset: str = "fashion_mnist"
    n_images: int = 3500
    n_val: int = 500
    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-2
    evals_per_epoch: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        for name in ("n_images", "n_val", "epochs", "batch_size", "evals_per_epoch"):
            _validate.positive_int(name, getattr(self, name))
        if self.n_val >= self.n_images:
            raise ValueError(f"n_val must be smaller than n_images ({self.n_images}), got {self.n_val}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if len(self.seeds) < 3:
            raise ValueError(f"seeds must hold at least 3 seeds (a comparison needs a spread), got {self.seeds}")

    @property
    def n_train(self) -> int:
        """Images actually trained on (``n_images - n_val``)."""
        return self.n_images - self.n_val

    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch: ``ceil(n_train / batch_size)``."""
        return -(-self.n_train // self.batch_size)


BUDGET = Budget()
"""The setting used in notebooks 06, 07 and 08: 3,500 Fashion-MNIST training images
(3,000 to train on, 500 held out for validation), 2 epochs of batch 64 (94 steps), Adam
with a one-cycle schedule peaking at 1e-2, validation 4 times per epoch, seeds 0, 1, 2.
The same for every model: one learning rate, not tuned per model, and every model starts
from the same initialisation rule (:func:`same_init`)."""


def weight_layers(model: nn.Module) -> int:
    """Number of ``nn.Conv2d`` and ``nn.Linear`` modules in ``model`` (all paths)."""
    _validate.module("model", model)
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())


def longest_path(model: nn.Module) -> int:
    """Weight layers (Conv2d, Linear) on the longest input-output path, the papers' "depth":
    an Inception block (:class:`cnnlib.models.googlenet.Inception`) counts its longest
    branch, a torchvision residual block its main path (a shortcut projection runs beside
    it); any other module the sum over its children, in order."""
    _validate.module("model", model)
    from torchvision.models.resnet import BasicBlock, Bottleneck

    from .googlenet import Inception

    if isinstance(model, Inception):
        return max(longest_path(b) for b in (model.branch1, model.branch2, model.branch3, model.branch4))
    if isinstance(model, (BasicBlock, Bottleneck)):
        return weight_layers(model) - (model.downsample is not None)
    if isinstance(model, (nn.Conv2d, nn.Linear)):
        return 1
    return sum(longest_path(m) for m in model.children())


def _budget(budget: object) -> Budget:
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a cnnlib.models.family.Budget, got {type(budget).__name__}")
    return budget


def budget_data(budget: Budget = BUDGET) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The budget's images: ``train_x (n_train, 1, 28, 28), train_y (n_train,), val_x
    (n_val, 1, 28, 28), val_y (n_val,)``, all from the dataset's *training* split."""
    budget = _budget(budget)
    images, labels = load_dataset(budget.dataset, "train", n=budget.n_images, seed=0)
    return train_val_split(images, labels, budget.n_val, seed=0)


def logistic_regression(in_features: int = 28 * 28, num_classes: int = 10) -> nn.Sequential:
    """Multinomial logistic regression: flatten, one dense layer. (N, C, H, W) -> (N, num_classes),
    with C * H * W = ``in_features``. Trained with cross-entropy it is the linear baseline."""
    in_features = _validate.positive_int("in_features", in_features)
    num_classes = _validate.positive_int("num_classes", num_classes)
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))


class EpochChunks:
    """Hands out each epoch of ``loader`` in ``parts`` consecutive pieces, one piece per
    iteration: ``fit(model, EpochChunks(loader, 4), 4 * epochs, ...)`` trains on exactly the
    same batches as ``fit(model, loader, epochs, ...)`` but records (and validates) four
    times per epoch. ``len()`` is the number of batches of the next piece."""

    def __init__(self, loader: TensorLoader, parts: int) -> None:
        if not isinstance(loader, TensorLoader):
            raise TypeError(f"loader must be a cnnlib.data.TensorLoader, got {type(loader).__name__}")
        parts = _validate.positive_int("parts", parts)
        if parts > len(loader):
            raise ValueError(f"parts must be at most the number of batches per epoch ({len(loader)}), got {parts}")
        self.loader, self.parts = loader, parts
        self.sizes = [len(a) for a in np.array_split(np.arange(len(loader)), parts)]
        self._part = 0
        self._it: Iterator | None = None

    def __len__(self) -> int:
        return self.sizes[self._part]

    def __iter__(self) -> Iterator:
        if self._part == 0 or self._it is None:
            self._it = iter(self.loader)
        for _ in range(self.sizes[self._part]):
            yield next(self._it)
        self._part = (self._part + 1) % self.parts


def same_init(model: nn.Module) -> nn.Module:
    """One initialisation rule for every model of the comparison, in place; returns ``model``.

    Every submodule first gets PyTorch's default (its own ``reset_parameters()``:
    Kaiming-uniform with ``a = sqrt(5)`` for ``nn.Conv2d`` / ``nn.Linear``, ones and zeros
    for BatchNorm); then every ``nn.Conv2d`` / ``nn.Linear`` except the **last** one (the
    output layer) gets He (Kaiming) normal weights, N(0, 2 / fan_in), made for ReLU layers.
    The output layer keeps the default, so every model starts near the chance-level
    cross-entropy ln(10) = 2.30 instead of the larger values a ReLU gain gives there. A
    model with a single weight layer (logistic regression) keeps PyTorch's default. This
    replaces whatever the constructor did (e.g. :func:`cnnlib.models.alexnet.small_alexnet`
    initialises every layer, the output layer included, with the ReLU gain)."""
    _validate.module("model", model)
    for m in model.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for m in layers[:-1]:
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    return model


def train_on_budget(
    model: nn.Module,
    data: Sequence[torch.Tensor],
    seed: int = 0,
    budget: Budget = BUDGET,
    device: torch.device | str | None = None,
) -> History:
    """Train ``model`` in place on ``data = (train_x, train_y, val_x, val_y)`` (from
    :func:`budget_data`) with the budget's recipe; ``seed`` sets the batch order. The
    weights are first re-drawn with :func:`same_init` (from the global RNG, so
    seed it before), so that every model starts from the same initialisation rule.

    Returns a :class:`cnnlib.train.History` with ``epochs * evals_per_epoch`` entries: the
    training loss and accuracy are running means over each piece of an epoch, measured
    in train mode (dropout on); the validation loss and accuracy are measured in eval
    mode on ``val_x`` after each piece.
    """
    _validate.module("model", model)
    budget = _budget(budget)
    seed = _validate.nonneg_int("seed", seed)
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise TypeError("data must be the 4 tensors (train_x, train_y, val_x, val_y) of budget_data()")
    train_x, train_y, val_x, val_y = data
    same_init(model)
    train = TensorLoader(train_x, train_y, batch_size=budget.batch_size, shuffle=True, seed=seed)
    val = TensorLoader(val_x, val_y, batch_size=500)
    chunks = EpochChunks(train, budget.evals_per_epoch)
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=budget.lr,
                                                    total_steps=budget.epochs * len(train))
    return fit(model, chunks, budget.epochs * budget.evals_per_epoch, optimizer, scheduler=scheduler,
               val_loader=val, device=device, progress=False)


@dataclass
class FamilyRuns:
    """What :func:`train_family` trained: per model name, the trained models and their
    histories (one per seed, in the budget's seed order) and the final validation accuracy
    over the seeds."""

    models: dict[str, list[nn.Module]] = field(default_factory=dict)
    histories: dict[str, list[History]] = field(default_factory=dict)
    val_acc: dict[str, SeedStats] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per model: parameters, validation accuracy (mean +- sd over seeds) and
        the training seconds of all its seeds together."""
        lines = []
        for name, models in self.models.items():
            params = count_params(models[0])
            seconds = sum(h.total_time for h in self.histories[name])
            lines.append(f"{name:20s} {params:>8,} params  validation accuracy {self.val_acc[name]}  ({seconds:.1f} s)")
        return "\n".join(lines)


def train_family(
    family: Mapping[str, Callable[[], nn.Module]],
    data: Sequence[torch.Tensor],
    budget: Budget = BUDGET,
    device: torch.device | str | None = None,
) -> FamilyRuns:
    """Train every model of ``family`` (name -> a function that builds the model) once per
    seed of ``budget`` with :func:`train_on_budget` on ``data`` (from :func:`budget_data`).

    Each run is seeded by :func:`cnnlib.train.over_seeds` before the model is built, so
    seed ``s`` gives the same initial weights and batch order whichever family it is in.
    Returns a :class:`FamilyRuns`; its ``val_acc[name]`` is the last validation accuracy
    of each seed's history, summarized over the seeds.
    """
    if not isinstance(family, Mapping) or not family:
        raise TypeError("family must be a non-empty dict: model name -> function that builds the model")
    for name, make in family.items():
        if not isinstance(name, str) or not callable(make):
            raise TypeError(f"family must map names (str) to model builders (callables), got {name!r}: {make!r}")
    budget = _budget(budget)
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise TypeError("data must be the 4 tensors (train_x, train_y, val_x, val_y) of budget_data()")
    runs = FamilyRuns()
    for name, make in family.items():
        models, histories = runs.models.setdefault(name, []), runs.histories.setdefault(name, [])

        def run(seed: int) -> float:
            model = make()
            _validate.module(f"family[{name!r}]()", model)
            histories.append(train_on_budget(model, data, seed, budget, device=device))
            models.append(model)
            return histories[-1].val_metric[-1]

        runs.val_acc[name] = over_seeds(run, budget.seeds)
    return runs


def evaluate_family(
    models: Mapping[str, Sequence[nn.Module]],
    loader: Iterable,
    device: torch.device | str | None = None,
) -> dict[str, SeedStats]:
    """Accuracy of every final model on ``loader`` (a test loader: read it once per final
    model), summarized over the seeds of each name. ``models``: :attr:`FamilyRuns.models`."""
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict: model name -> list of trained models (FamilyRuns.models)")
    for name, ms in models.items():
        if isinstance(ms, nn.Module) or not isinstance(ms, Sequence) or not ms \
                or not all(isinstance(m, nn.Module) for m in ms):
            raise TypeError(f"models[{name!r}] must be a non-empty list of nn.Module (one per seed)")
    return {name: SeedStats.of([evaluate(m, loader, device=device)[1] for m in ms]) for name, ms in models.items()}


def versus_baseline(accuracy: Mapping[str, SeedStats], baseline: str = "logistic regression",
                    called: str = "the linear model") -> str:
    """One line per model: its accuracy and, beside it, :func:`cnnlib.train.difference_in_words`
    against ``accuracy[baseline]`` ("clearly above", "no measurable difference from" or
    "clearly below" ``called``, the baseline's name in the sentence); the baseline's own
    line says "(the baseline)"."""
    if not isinstance(accuracy, Mapping) or not all(isinstance(v, SeedStats) for v in accuracy.values()):
        raise TypeError("accuracy must be a dict: model name -> SeedStats (from evaluate_family)")
    if baseline not in accuracy:
        raise ValueError(f"baseline must be one of the models {sorted(accuracy)}, got {baseline!r}")
    if not isinstance(called, str):
        raise TypeError(f"called must be a string (the baseline's name in the sentence), got {type(called).__name__}")
    lines = []
    for name, stats in accuracy.items():
        versus = "(the baseline)" if name == baseline else \
            f"{difference_in_words(stats, accuracy[baseline])} {called}"
        lines.append(f"{name:20s} test accuracy {stats}   {versus}")
    return "\n".join(lines)


def plot_seed_curves(
    runs: Mapping[str, Sequence[History]],
    evals_per_epoch: int = BUDGET.evals_per_epoch,
    title: str | None = None,
) -> plt.Figure:
    """Training loss (left) and validation accuracy (right) against epochs, the mean over
    seeds as a line and +- one sd as a band, one colour per model. ``runs``: model name ->
    the histories of its seeds (from :func:`train_on_budget`). Epoch ticks are whole numbers."""
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError("runs must be a non-empty dict: model name -> list of History (one per seed)")
    evals_per_epoch = _validate.positive_int("evals_per_epoch", evals_per_epoch)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    epochs = 1
    for (name, hists), color in zip(runs.items(), colors * 4):
        if not hists or not all(isinstance(h, History) for h in hists):
            raise TypeError(f"runs[{name!r}] must be a non-empty list of History")
        for ax, key in zip(axes, ("train_loss", "val_metric")):
            values = np.array([getattr(h, key) for h in hists], dtype=float)   # (seeds, points)
            x = np.arange(1, values.shape[1] + 1) / evals_per_epoch
            epochs = max(epochs, int(np.ceil(x[-1])))
            mean, sd = values.mean(0), values.std(0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
            ax.plot(x, mean, "-o", ms=3, color=color, label=f"{name} (n={len(values)})")
            ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.2)
    axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="training loss (running mean, train mode)")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="validation accuracy (eval mode)")
    for ax in axes:
        ax.set_xticks(range(0, epochs + 1))
        ax.set_xlim(0, epochs + 0.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

"""Look inside a network while it runs: per-layer activation statistics and gradient norms.

Hooks (훅) are functions PyTorch calls during the forward or backward pass of a module.
This module registers them on the layers you choose and collects numbers per layer:

- :class:`ActivationRecorder` / :func:`activation_stats`: mean, std and the fraction of
  zeros of each chosen layer's output (vanishing or exploding *activations*).
- :func:`gradient_norms`: the norm of the gradient of each chosen layer's weight after
  one backward pass (vanishing or exploding *gradients*); ``of="output"`` instead gives
  the norm of the gradient with respect to each layer's output, via backward hooks.
- :func:`channel_stats`: per-channel mean and variance of a (N, C, H, W) batch, the
  numbers batch normalization works with.
- :class:`LossRecorder`: wraps a loss function and keeps every training-step loss, so
  that :func:`cnnlib.train.fit` runs can be compared step by step, not only per epoch.
- :func:`plot_per_layer`: one line per run, layers on the x axis (log scale by default).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from . import _validate

DEFAULT_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer's output, over every element of the batch."""

    name: str          # qualified module name, e.g. "layer1.0.conv1"
    type: str          # class name, e.g. "Conv2d"
    mean: float
    std: float
    zero_fraction: float   # fraction of exact zeros (dead ReLU outputs)


def _selected(model: nn.Module, layer_types: Sequence[type[nn.Module]] | Callable[[str, nn.Module], bool]) -> list[tuple[str, nn.Module]]:
    if callable(layer_types) and not isinstance(layer_types, (tuple, list, type)):
        keep = layer_types
    else:
        types = tuple(layer_types) if isinstance(layer_types, (tuple, list)) else (layer_types,)
        keep = lambda name, m: isinstance(m, types)  # noqa: E731
    chosen = [(name, m) for name, m in model.named_modules() if name and keep(name, m)]
    if not chosen:
        raise ValueError("no layer of the model matches layer_types")
    return chosen


class ActivationRecorder:
    """Record output statistics of chosen layers on every forward pass.

    Use as a context manager; the hooks are removed on exit::

        with ActivationRecorder(model, (nn.Conv2d,)) as rec:
            model(x)
        rec.stats      # list[LayerStats], in the order the layers ran

    ``layer_types`` is a tuple of module classes or a predicate ``(name, module) -> bool``.
    Each forward pass appends one entry per chosen layer call; :meth:`clear` empties it.
    """

    def __init__(self, model: nn.Module, layer_types: Sequence[type[nn.Module]] | Callable[[str, nn.Module], bool] = DEFAULT_LAYERS) -> None:
        self.model = model
        self.layers = _selected(model, layer_types)
        self.stats: list[LayerStats] = []
        self._handles: list = []

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            out = output.detach().float()
            self.stats.append(LayerStats(name, type(module).__name__, out.mean().item(), out.std().item(),
                                         (out == 0).float().mean().item()))
        return hook

    def __enter__(self) -> "ActivationRecorder":
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove the hooks (called on leaving the ``with`` block)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def clear(self) -> None:
        """Forget the recorded statistics."""
        self.stats = []

    def stds(self) -> list[float]:
        """The recorded standard deviations, in order."""
        return [s.std for s in self.stats]


@torch.no_grad()
def activation_stats(model: nn.Module, x: torch.Tensor,
                     layer_types: Sequence[type[nn.Module]] | Callable[[str, nn.Module], bool] = DEFAULT_LAYERS) -> list[LayerStats]:
    """One forward pass of ``x`` through ``model``; the output statistics of each chosen layer.

    x: (N, ...) any input the model accepts. The model's train/eval mode is left as it is.
    """
    _validate.module("model", model)
    _validate.tensor("x", x)
    with ActivationRecorder(model, layer_types) as rec:
        model(x)
    return rec.stats


def gradient_norms(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    layer_types: Sequence[type[nn.Module]] | Callable[[str, nn.Module], bool] = DEFAULT_LAYERS,
    of: str = "weight",
) -> dict[str, float]:
    """L2 norm of the gradient of each chosen layer after one forward and backward pass.

    x: (N, ...) inputs, y: targets for ``loss_fn``. ``of="weight"``: ||dL/dW|| of each
    layer's weight (what the optimizer uses; computed in float64, so that tiny gradients do
    not underflow to 0 when squared); ``of="output"``: ||dL/d(output)|| of each
    layer, recorded with full backward hooks (the signal that flows back through the
    network). Returns ``{layer name: norm}`` in the order of ``model.named_modules()``
    (input side first). The model's existing ``.grad`` values are restored afterwards.
    """
    _validate.module("model", model)
    _validate.tensor("x", x)
    _validate.tensor("y", y)
    if of not in ("weight", "output"):
        raise ValueError(f"of must be 'weight' or 'output', got {of!r}")
    layers = _selected(model, layer_types)
    if of == "weight":
        missing = [name for name, m in layers if not isinstance(getattr(m, "weight", None), torch.Tensor)]
        if missing:
            raise ValueError(f"layers without a weight: {missing}; use of='output' or other layer_types")
    saved = {p: p.grad for p in model.parameters()}
    out_norms: dict[str, float] = {}
    handles = []
    if of == "output":
        def make(name: str) -> Callable:
            def hook(module: nn.Module, grad_input: tuple, grad_output: tuple) -> None:
                out_norms[name] = grad_output[0].detach().double().norm().item()
            return hook
        handles = [m.register_full_backward_hook(make(name)) for name, m in layers]
    try:
        for p in model.parameters():
            p.grad = None
        with torch.enable_grad(), warnings.catch_warnings():
            # the first layer's input needs no gradient; PyTorch warns about that, harmlessly
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss_fn(model(x), y).backward()
        if of == "weight":
            return {name: (m.weight.grad.double().norm().item() if m.weight.grad is not None else 0.0)
                    for name, m in layers}
        return {name: out_norms.get(name, 0.0) for name, _ in layers}
    finally:
        for h in handles:
            h.remove()
        for p, g in saved.items():
            p.grad = g


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (biased) variance over the batch and all positions.

    x: (N, C, H, W) -> mean (C,), var (C,), the statistics BatchNorm2d normalizes with
    in training mode.
    """
    _validate.tensor("x", x, "(N, C, H, W)")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    return x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)


class LossRecorder:
    """A loss function that remembers every value it returned while gradients were on.

    ``fit(model, loader, epochs, opt, loss_fn=LossRecorder(F.cross_entropy))`` then
    ``recorder.losses`` holds one float per training step (evaluation passes, which run
    under ``torch.no_grad()``, are not recorded).
    """

    def __init__(self, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy) -> None:
        self.loss_fn = loss_fn
        self.losses: list[float] = []

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.loss_fn(output, target)
        if torch.is_grad_enabled():
            self.losses.append(loss.item())
        return loss

    def smoothed(self, window: int = 10) -> list[float]:
        """Running mean of the recorded losses over ``window`` steps (shorter at the start)."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        out, total = [], 0.0
        for i, v in enumerate(self.losses):
            total += v
            if i >= window:
                total -= self.losses[i - window]
            out.append(total / min(i + 1, window))
        return out


def plot_per_layer(series: Mapping[str, Sequence[float]], ylabel: str, title: str | None = None,
                   log: bool = True, ax: plt.Axes | None = None) -> plt.Figure:
    """One line per entry of ``series`` (e.g. one per initialisation), layer index on x.

    ``series``: {label: values per layer, input side first}. Returns the figure.
    """
    if not isinstance(series, Mapping):
        raise TypeError(f"series must be a dict {{label: values per layer}}, got {type(series).__name__}")
    if not series:
        raise ValueError("series must hold at least one run")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    for label, values in series.items():
        values = list(values)
        ax.plot(range(1, len(values) + 1), values, "-o", ms=3, label=label)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="layer (input side = 1)", ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10)
    return fig


def summarize_ratio(values: Iterable[float]) -> float:
    """Last value divided by the first: how much a per-layer quantity grows (>1) or shrinks (<1)."""
    values = _validate.iterable("values", values, "a sequence of numbers")
    if not values:
        raise ValueError("values must not be empty")
    if values[0] == 0:
        return float("inf") if values[-1] != 0 else 1.0
    return values[-1] / values[0]

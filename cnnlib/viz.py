"""Plots for the course: image grids, kernels, feature maps, curves, confusion matrix.

Every function draws into a new matplotlib figure and returns it; end a notebook cell
with ``plt.show()`` so that no ``<Figure ...>`` text is stored.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import _validate
from .train import History

ArrayLike = np.ndarray | torch.Tensor


def _np(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _grid(n: int, ncols: int | None, what: str = "images") -> tuple[int, int]:
    """(rows, cols) of a grid of ``n`` panels; refuses an empty grid, naming ``what``."""
    if n == 0:
        raise ValueError(f"{what} must hold at least one entry, got none")
    if ncols is not None:
        _validate.positive_int("ncols", ncols)
    ncols = ncols or min(n, 8)
    return math.ceil(n / ncols), ncols


def show_images(
    images: ArrayLike,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str = "gray",
    size: float = 1.6,
    suptitle: str | None = None,
) -> plt.Figure:
    """A grid of images.

    images: (N, H, W), (N, 1, H, W) grayscale or (N, 3, H, W) / (N, H, W, 3) colour.
    """
    imgs = _np(images)
    if imgs.ndim == 4 and imgs.shape[1] in (1, 3) and imgs.shape[-1] not in (1, 3):
        imgs = imgs.transpose(0, 2, 3, 1)
    if imgs.ndim == 4 and imgs.shape[-1] == 1:
        imgs = imgs[..., 0]
    if imgs.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W), (N, C, H, W) or (N, H, W, C), got {imgs.shape}")
    n = len(imgs)
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per image ({n}), got {len(titles)}")
    rows, cols = _grid(n, ncols)
    # each row gets room for its titles, so that a title never sits on the images above it
    row_height = size + (0.3 if titles is not None else 0.0)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, row_height * rows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = imgs[i]
            ax.imshow(np.clip(img, 0, 1) if img.ndim == 3 else img, cmap=None if img.ndim == 3 else cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_kernels(weight: ArrayLike, ncols: int | None = None, size: float = 1.2, title: str | None = None) -> plt.Figure:
    """Convolution kernels as small images, one per (output, input) channel pair.

    weight: (C_out, C_in, kH, kW) as in ``nn.Conv2d.weight``, or (kH, kW) for one kernel.
    Blue is negative, red positive, white zero (a symmetric colour scale per kernel).
    """
    w = _np(weight)
    if w.ndim == 2:
        w = w[None, None]
    if w.ndim != 4:
        raise ValueError(f"weight must have shape (C_out, C_in, kH, kW) or (kH, kW), got {w.shape}")
    c_out, c_in = w.shape[:2]
    if w.size == 0:
        raise ValueError(f"weight must hold at least one kernel, got shape {w.shape}")
    flat = w.reshape(c_out * c_in, *w.shape[2:])
    rows, cols = (c_out, c_in) if ncols is None else _grid(len(flat), ncols, "weight")
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < len(flat):
            k = flat[i]
            m = np.abs(k).max() or 1.0
            ax.imshow(k, cmap="bwr", vmin=-m, vmax=m)
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_feature_maps(maps: ArrayLike, ncols: int | None = None, size: float = 1.4, title: str | None = None, cmap: str = "viridis") -> plt.Figure:
    """The channels of one feature map, side by side.

    maps: (C, H, W) or (1, C, H, W).
    """
    m = _np(maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"maps must have shape (C, H, W) or (1, C, H, W), got {m.shape}")
    rows, cols = _grid(len(m), ncols, "maps")
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(m):
            ax.imshow(m[i], cmap=cmap)
            ax.set_title(f"ch {i}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(*histories: History, labels: Sequence[str] | None = None, metric_name: str = "accuracy") -> plt.Figure:
    """Loss (left) and metric (right) per epoch, training solid and validation dashed.

    Pass several histories with ``labels`` to compare runs.
    """
    if not histories:
        raise ValueError("plot_history needs at least one History")
    labels = list(labels) if labels is not None else [f"run {i + 1}" for i in range(len(histories))]
    if len(labels) != len(histories):
        raise ValueError(f"labels must have one entry per history ({len(histories)}), got {len(labels)}")
    has_metric = any(not all(np.isnan(h.train_metric)) for h in histories)
    fig, axes = plt.subplots(1, 2 if has_metric else 1, figsize=(10 if has_metric else 5, 3.5), squeeze=False)
    for h, lab, color in zip(histories, labels, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4):
        ep = np.arange(1, len(h.train_loss) + 1)
        axes[0, 0].plot(ep, h.train_loss, "-o", color=color, label=f"{lab} train")
        if h.val_loss:
            axes[0, 0].plot(ep, h.val_loss, "--s", color=color, label=f"{lab} val")
        if has_metric:
            axes[0, 1].plot(ep, h.train_metric, "-o", color=color, label=f"{lab} train")
            if h.val_metric:
                axes[0, 1].plot(ep, h.val_metric, "--s", color=color, label=f"{lab} val")
    axes[0, 0].set(xlabel="epoch", ylabel="loss", title="loss")
    if has_metric:
        axes[0, 1].set(xlabel="epoch", ylabel=metric_name, title=metric_name)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: ArrayLike, class_names: Sequence[str] | None = None, title: str = "confusion matrix") -> plt.Figure:
    """Counts of (true class, predicted class); the diagonal holds the correct ones.

    matrix: (K, K) as returned by :func:`cnnlib.train.confusion_matrix`.
    """
    m = _np(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square (K, K), got shape {m.shape}")
    k = len(m)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(0.55 * k + 2, 0.55 * k + 1.5))
    ax.imshow(np.log1p(m), cmap="Blues")
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if i == j else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return fig


def plot_frequency_response(kernels: dict[str, ArrayLike], size: int = 64) -> plt.Figure:
    """Magnitude of the 2-D Fourier transform of small kernels: the "equalizer" view.

    kernels: name -> (kH, kW). Each kernel is zero-padded to ``size`` x ``size`` and its
    |FFT| shown with the zero frequency in the centre: a blur keeps the centre (low
    frequencies), an edge detector keeps the rim (high frequencies).
    """
    if not isinstance(kernels, Mapping) or not kernels:
        raise TypeError(f"kernels must be a non-empty dict {{name: (kH, kW) kernel}}, got {kernels!r:.60}")
    fig, axes = plt.subplots(2, len(kernels), figsize=(2.2 * len(kernels), 4.4), squeeze=False)
    for col, (name, k) in enumerate(kernels.items()):
        k = _np(k).astype(float)
        if k.ndim != 2:
            raise ValueError(f"kernel {name!r} must be 2-D (kH, kW), got shape {k.shape}")
        resp = np.abs(np.fft.fftshift(np.fft.fft2(k, s=(size, size))))
        m = np.abs(k).max() or 1.0
        axes[0, col].imshow(k, cmap="bwr", vmin=-m, vmax=m)
        axes[0, col].set_title(name, fontsize=9)
        axes[1, col].imshow(resp, cmap="magma", extent=(-0.5, 0.5, -0.5, 0.5))
        axes[1, col].set_xlabel("cycles/pixel", fontsize=7)
        axes[0, col].axis("off")
        axes[1, col].tick_params(labelsize=6)
    axes[1, 0].set_ylabel("|FFT|")
    fig.tight_layout()
    return fig


def show_map_rows(
    rows: dict[str, ArrayLike],
    signed: Sequence[str] = (),
    titles: Sequence[str] | None = None,
    size: float = 1.0,
    suptitle: str | None = None,
    gray: Sequence[str] = ("image", "input"),
) -> plt.Figure:
    """Rows of maps of the same N images, one row per entry of ``rows``, each with a colorbar.

    rows: {name: (N, H, W) or (N, 1, H, W)}, e.g. the images, then one attribution method
    per row. A row named in ``signed`` is drawn in a diverging colormap (``"bwr"``, white
    at 0) on a symmetric scale [-m, m]; other rows whose values are all >= 0 use
    ``"viridis"`` on [0, max]; a row named in ``gray`` whose values lie in [0, 1] (images)
    is drawn in gray on [0, 1]. Every row shares ONE scale
    across its N panels, so the panels of a row compare. Figure: ``size`` inches per panel.
    """
    if not isinstance(rows, Mapping):
        raise TypeError(f"rows must be a dict {{name: (N, H, W) maps}}, got {type(rows).__name__}")
    if not rows:
        raise ValueError("rows must hold at least one {name: maps} entry")
    arrays = {}
    for name, maps in rows.items():
        a = _np(maps)
        if a.ndim == 4 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 3:
            raise ValueError(f"rows[{name!r}] must have shape (N, H, W) or (N, 1, H, W), got {a.shape}")
        arrays[name] = a
    n = len(next(iter(arrays.values())))
    if any(len(a) != n for a in arrays.values()):
        raise ValueError(f"every row must hold the same number of maps, got {[len(a) for a in arrays.values()]}")
    unknown = set(signed) - set(arrays)
    if unknown:
        raise ValueError(f"signed names rows that do not exist: {sorted(unknown)}")
    both = set(signed) & set(gray)
    if both:
        raise ValueError(f"a row cannot be both signed and gray: {sorted(both)}")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per column ({n}), got {len(titles)}")
    fig, axes = plt.subplots(len(arrays), n, figsize=(size * n + 1.2, size * len(arrays) + (0.5 if suptitle else 0.1)),
                             squeeze=False)
    for r, (name, a) in enumerate(arrays.items()):
        if name in signed:
            m = float(np.abs(a).max()) or 1.0
            cmap, lo, hi = "bwr", -m, m
        elif name in gray and a.min() >= 0 and a.max() <= 1:
            cmap, lo, hi = "gray", 0.0, 1.0
        else:
            cmap, lo, hi = "viridis", float(min(a.min(), 0.0)), float(a.max()) or 1.0
        for c in range(n):
            ax = axes[r, c]
            im = ax.imshow(a[c], cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and titles is not None:
                ax.set_title(str(titles[c]), fontsize=8)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        cb = fig.colorbar(im, ax=list(axes[r]), fraction=0.02, pad=0.01)
        cb.ax.tick_params(labelsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1.0 + 0.3 / fig.get_figheight())   # above the column titles
    return fig

"""Plots for the course: image grids, kernels, feature maps, curves, confusion matrix.

Every function draws into a new matplotlib figure and returns it; end a notebook cell
with ``plt.show()`` so that no ``<Figure ...>`` text is stored.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
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
                ax.set_title(str(titles[i]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- signed maps, colour scales

SIGNED_CMAP = "bwr"          # blue negative, white zero, red positive
_CB_WIDTH_IN = 0.95          # inches kept free at the right of a grid for its colorbar


def _cell_text(v: float) -> str:
    """A kernel value as written into its cell: whole numbers as ints ("-1", "5"), others
    rounded to two decimals ("0.11" for the 1/9 blur, "-0.35"; "0.00" for |v| < 0.005), so
    that every cell of a figure holds a text of about the same length."""
    if abs(v - round(v)) < 1e-6 * max(1.0, abs(v)):
        return f"{round(v):d}"
    text = f"{v:.2f}"
    return "0.00" if text == "-0.00" else text


def _cell_texts(k: np.ndarray) -> list[str]:
    texts = [_cell_text(float(v)) for v in k.flat]
    if max(len(t) for t in texts) > 4:                      # "-0.35" -> "-.35" where room is short
        texts = [t.replace("0.", ".", 1) if t.lstrip("-").startswith("0.") else t for t in texts]
    return texts


def _annotate(ax: plt.Axes, k: np.ndarray, lo: float, hi: float, cell_inches: float, longest: int | None = None) -> bool:
    """Write each value of the small 2-D array ``k`` into its cell (white on dark cells), in
    the largest font (up to 10 pt) in which a text of ``longest`` characters (default: the
    longest of ``k``) fits a cell; pass the longest over a whole figure so all panels match.

    Returns False (and writes nothing) if the cells are too small for text of at least 5 pt.
    """
    texts = _cell_texts(k)
    longest = max(len(t) for t in texts) if longest is None else longest
    fontsize = min(10.0, cell_inches * 72 / (0.62 * longest + 0.3))
    if fontsize < 5:
        return False
    span = max(abs(lo), abs(hi)) or 1.0
    for (r, c), t in zip(np.ndindex(*k.shape), texts):
        dark = abs(k[r, c]) > 0.65 * span if lo < 0 else (k[r, c] - lo) > 0.65 * (hi - lo)
        ax.text(c, r, t, ha="center", va="center", fontsize=fontsize, color="white" if dark else "black")
    return True


def _grid_colorbar(fig: plt.Figure, image_axes: list, mappable, label: str | None = None) -> plt.Axes:
    """One colorbar for a whole grid, right of it, drawn in a child axes of the first panel
    (so it does not count in ``fig.axes``: a stored ``<Figure ... with N Axes>`` stays valid)."""
    boxes = [ax.get_position() for ax in image_axes]
    y0, y1 = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
    x1 = max(b.x1 for b in boxes)
    w_in = fig.get_figwidth()
    cax = image_axes[0].inset_axes([x1 + 0.08 / w_in, y0, 0.12 / w_in, y1 - y0], transform=fig.transFigure)
    cax.set_label("colorbar")            # findable: [a for a in ax.child_axes if a.get_label() == "colorbar"]
    cb = fig.colorbar(mappable, cax=cax)
    cb.ax.tick_params(labelsize=10)
    if label:
        cb.set_label(label, fontsize=10)
    return cax


def _layout(fig: plt.Figure, colorbar: bool) -> None:
    """tight_layout, keeping room at the right for a colorbar."""
    right = 1 - _CB_WIDTH_IN / fig.get_figwidth() if colorbar else 1
    fig.tight_layout(rect=(0, 0, right, 1))


def _check_vlim(vlim: Sequence[float] | None) -> tuple[float, float] | None:
    if vlim is None:
        return None
    try:
        lo, hi = (float(v) for v in vlim)
    except (TypeError, ValueError):
        raise TypeError(f"vlim must be a pair (low, high) of numbers, got {vlim!r}") from None
    if not lo < hi:
        raise ValueError(f"vlim must have low < high, got {vlim!r}")
    return lo, hi


def show_kernels(
    weight: ArrayLike,
    ncols: int | None = None,
    size: float = 1.2,
    title: str | None = None,
    *,
    titles: Sequence[str] | None = None,
    shared: bool = True,
    annotate: bool | None = None,
    colorbar: bool = True,
    rgb: bool = False,
) -> plt.Figure:
    """Convolution kernels as small images, one per (output, input) channel pair.

    weight: (C_out, C_in, kH, kW) as in ``nn.Conv2d.weight``, or (kH, kW) for one kernel.
    Blue is negative, red positive, white zero (colormap ``"bwr"`` on a symmetric range
    [-m, m]). With ``shared`` (the default) every panel uses ONE range, m = max |weight|,
    so the panels compare (the 1/9 blur is pale next to an identity's 1), and one colorbar
    shows it; ``shared=False`` scales each kernel to its own max |value| (no colorbar).
    ``annotate`` writes each value into its cell; by default it does so for kernels of at
    most 5x5. ``titles``: one per panel (row-major). ``rgb=True`` with C_in = 3 draws each
    filter as ONE colour image instead (its three slices as red, green, blue; 0 is mid-grey,
    on the shared range), as in the CS231n/AlexNet first-layer filter figures.
    """
    w = _np(weight)
    if w.ndim == 2:
        w = w[None, None]
    if w.ndim != 4:
        raise ValueError(f"weight must have shape (C_out, C_in, kH, kW) or (kH, kW), got {w.shape}")
    c_out, c_in = w.shape[:2]
    if w.size == 0:
        raise ValueError(f"weight must hold at least one kernel, got shape {w.shape}")
    shared, colorbar, rgb = (_validate.flag(n, v) for n, v in (("shared", shared), ("colorbar", colorbar), ("rgb", rgb)))
    if annotate is not None:
        annotate = _validate.flag("annotate", annotate)
    w = w.astype(np.float64)
    if rgb:
        if c_in != 3:
            raise ValueError(f"rgb=True needs weight with C_in = 3 (one RGB filter per output), got shape {w.shape}")
        flat = w                                                 # (C_out, 3, kH, kW): one panel per filter
        n_panels = c_out
    else:
        flat = w.reshape(c_out * c_in, *w.shape[2:])
        n_panels = len(flat)
    if titles is not None and len(titles) != n_panels:
        raise ValueError(f"titles must have one entry per panel ({n_panels}), got {len(titles)}")
    if rgb:
        rows, cols = _grid(n_panels, ncols, "weight")
    else:
        rows, cols = (c_out, c_in) if ncols is None else _grid(n_panels, ncols, "weight")
    k_h, k_w = w.shape[2:]
    if annotate is None:
        annotate = (not rgb) and k_h <= 5 and k_w <= 5
    m_all = float(np.abs(w).max()) or 1.0
    colorbar = colorbar and shared
    title_room = 0.3 if titles is not None else 0.0
    # room for the colorbar at the right and the figure title above, so that neither squeezes the panels
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + (_CB_WIDTH_IN if colorbar else 0),
                                                  (size + title_room) * rows + (0.4 if title else 0)),
                             squeeze=False)
    shown, im = [], None
    longest = max(len(t) for k in flat for t in _cell_texts(k)) if annotate else None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n_panels:
            ax.axis("off")
            continue
        k = flat[i]
        m = m_all if shared else (float(np.abs(k).max()) or 1.0)
        if rgb:
            ax.imshow(np.clip(0.5 + k.transpose(1, 2, 0) / (2 * m), 0, 1))
        else:
            im = ax.imshow(k, cmap=SIGNED_CMAP, vmin=-m, vmax=m)
            if annotate:
                _annotate(ax, k, -m, m, size / max(k_h, k_w) * 0.8, longest)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=10)
        shown.append(ax)
    if title:
        fig.suptitle(title)
    colorbar = colorbar and im is not None
    _layout(fig, colorbar)
    if colorbar:
        _grid_colorbar(fig, shown, im)
    return fig


def show_feature_maps(
    maps: ArrayLike,
    ncols: int | None = None,
    size: float = 1.4,
    title: str | None = None,
    cmap: str | None = None,
    *,
    titles: Sequence[str] | None = None,
    vlim: Sequence[float] | None = None,
    shared: bool = True,
    colorbar: bool = True,
    colorbar_label: str | None = None,
) -> plt.Figure:
    """The channels of one feature map, side by side.

    maps: (C, H, W) or (1, C, H, W). Signed maps (any value < 0, e.g. before a ReLU) are
    drawn in a diverging colormap (``"bwr"``, white at 0) on a symmetric range [-m, m];
    maps with all values >= 0 (after a ReLU) in ``"viridis"`` on [0, max]. With ``shared``
    (the default) all panels use ONE range and one colorbar shows it; ``vlim=(low, high)``
    sets the range, e.g. the pre-ReLU map's, so that a feature map and its activation map
    compare (a negative ``low`` picks the diverging colormap). ``shared=False`` scales each
    map on its own (no colorbar). ``cmap`` overrides the colormap; ``titles`` the
    default "ch i" panel titles; ``colorbar_label`` names what the colorbar measures.
    """
    m = _np(maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"maps must have shape (C, H, W) or (1, C, H, W), got {m.shape}")
    rows, cols = _grid(len(m), ncols, "maps")
    if titles is not None and len(titles) != len(m):
        raise ValueError(f"titles must have one entry per map ({len(m)}), got {len(titles)}")
    shared, colorbar = _validate.flag("shared", shared), _validate.flag("colorbar", colorbar)
    if cmap is not None and not isinstance(cmap, str):
        raise TypeError(f"cmap must be a colormap name (str) or None, got {cmap!r}")
    if colorbar_label is not None and not isinstance(colorbar_label, str):
        raise TypeError(f"colorbar_label must be a str or None, got {colorbar_label!r}")
    lim = _check_vlim(vlim)
    m = m.astype(np.float64)
    signed = lim[0] < 0 if lim is not None else bool((m < 0).any())
    cmap = cmap or (SIGNED_CMAP if signed else "viridis")

    def scale(a: np.ndarray) -> tuple[float, float]:
        if signed:
            r = float(np.abs(a).max()) or 1.0
            return -r, r
        return 0.0, float(a.max()) or 1.0

    if lim is None and shared:
        lim = scale(m)
    colorbar = colorbar and lim is not None
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.4 if title else 0)), squeeze=False)
    shown, im = [], None
    for i, ax in enumerate(axes.flat):
        if i >= len(m):
            ax.axis("off")
            continue
        ax.set_xticks([])                 # no ticks, but a thin frame: white (zero) maps keep their edges
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("0.7")
        if i < len(m):
            lo, hi = lim if lim is not None else scale(m[i])
            im = ax.imshow(m[i], cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(str(titles[i]) if titles is not None else f"ch {i}", fontsize=10)
            shown.append(ax)
    if title:
        fig.suptitle(title)
    _layout(fig, colorbar)
    if colorbar:
        _grid_colorbar(fig, shown, im, colorbar_label)
    return fig


def _running_mean(values: Sequence[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if window <= 1 or len(v) < 2:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    out = np.empty_like(v)
    for i in range(len(v)):  # trailing window, shorter at the start
        lo = max(0, i + 1 - window)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def plot_history(*histories: History, labels: Sequence[str] | None = None, metric_name: str = "accuracy") -> plt.Figure:
    """Loss (left) and metric (right) against epochs: training as a line through every
    batch (a running mean over about a tenth of an epoch), validation dashed with squares
    at the end of each epoch. Whole-number epoch ticks. A History without batch records
    is drawn with one dot per epoch.

    The training figures are measured in train mode while the weights change (dropout on),
    the validation figures after each epoch in eval mode, so validation can lie above
    training. Pass several histories with ``labels`` to compare runs.
    """
    if not histories:
        raise ValueError("plot_history needs at least one History")
    for i, h in enumerate(histories):
        if not isinstance(h, History):
            raise TypeError(f"histories[{i}] must be a cnnlib.train.History (as fit returns it), got {type(h).__name__}")
    labels = list(labels) if labels is not None else [f"run {i + 1}" for i in range(len(histories))]
    if len(labels) != len(histories):
        raise ValueError(f"labels must have one entry per history ({len(histories)}), got {len(labels)}")
    has_metric = any(not all(np.isnan(h.train_metric)) for h in histories)
    fig, axes = plt.subplots(1, 2 if has_metric else 1, figsize=(10 if has_metric else 5, 3.5), squeeze=False)
    panels = [(axes[0, 0], "train_loss", "val_loss", "batch_loss")]
    if has_metric:
        panels.append((axes[0, 1], "train_metric", "val_metric", "batch_metric"))
    for h, lab, color in zip(histories, labels, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4):
        ep = np.arange(1, len(h.train_loss) + 1)
        per_epoch = max(1, round(len(h.batch_epoch) / max(len(ep), 1)))
        for ax, train_key, val_key, batch_key in panels:
            batches = getattr(h, batch_key)
            if batches and len(batches) == len(h.batch_epoch):
                ax.plot(h.batch_epoch, _running_mean(batches, max(1, per_epoch // 10)), "-", color=color,
                        lw=1, alpha=0.8, label=f"{lab} train (per batch, train mode)")
            else:
                ax.plot(ep, getattr(h, train_key), "-o", color=color, label=f"{lab} train")
            if getattr(h, val_key):
                ax.plot(ep, getattr(h, val_key), "--s", color=color, label=f"{lab} val (end of epoch, eval mode)")
    axes[0, 0].set(xlabel="epoch", ylabel="loss", title="loss")
    if has_metric:
        axes[0, 1].set(xlabel="epoch", ylabel=metric_name, title=metric_name)
    longest = max(len(h.train_loss) for h in histories)
    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, longest + 0.2)
        ax.grid(alpha=0.3)
    # one legend for both panels, below them, so that it never covers a curve
    handles, names = axes[0, 0].get_legend_handles_labels()
    ncol = min(len(names), 2 if len(names) <= 4 else 3)
    rows = math.ceil(len(names) / ncol)
    fig.legend(handles, names, loc="lower center", ncol=ncol, fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, min(0.45, 0.09 * rows + 0.02), 1, 1))
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
    fig, ax = plt.subplots(figsize=(0.65 * k + 2, 0.65 * k + 1.5))
    ax.imshow(np.log1p(m), cmap="Blues")
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=10,
                        color="white" if i == j else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=10)
    ax.set_yticks(range(k), names, fontsize=10)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return fig


def plot_frequency_response(
    kernels: dict[str, ArrayLike],
    size: int = 64,
    *,
    db: bool = False,
    floor_db: float = -40.0,
) -> plt.Figure:
    """Magnitude of the 2-D Fourier transform of small kernels: the "equalizer" view.

    kernels: name -> (kH, kW). Top row: the kernels (shared symmetric ``"bwr"`` range,
    values written in the cells up to 5x5). Bottom row: each kernel zero-padded to
    ``size`` x ``size``, its gain |FFT| with the zero frequency in the centre, ALL on one
    scale [0, max gain] with one colorbar, so that gains compare across kernels: a blur
    keeps the centre (low frequencies, gain 1 at 0), an edge detector keeps the rim (high
    frequencies). ``db=True`` draws 20 log10(gain) instead, clipped below at ``floor_db``.
    """
    if not isinstance(kernels, Mapping) or not kernels:
        raise TypeError(f"kernels must be a non-empty dict {{name: (kH, kW) kernel}}, got {kernels!r:.60}")
    db = _validate.flag("db", db)
    arrays = {}
    for name, k in kernels.items():
        k = _np(k).astype(float)
        if k.ndim != 2:
            raise ValueError(f"kernel {name!r} must be 2-D (kH, kW), got shape {k.shape}")
        arrays[name] = k
    n = len(arrays)
    resp = {name: np.abs(np.fft.fftshift(np.fft.fft2(k, s=(size, size)))) for name, k in arrays.items()}
    if db:
        resp = {name: np.maximum(20 * np.log10(np.maximum(r, 1e-12)), floor_db) for name, r in resp.items()}
        lo, hi, label = floor_db, max(float(r.max()) for r in resp.values()), "gain (dB)"
    else:
        lo, hi, label = 0.0, max(float(r.max()) for r in resp.values()), "gain |FFT|"
    m = max(float(np.abs(k).max()) for k in arrays.values()) or 1.0
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n + _CB_WIDTH_IN, 4.8), squeeze=False)
    for col, (name, k) in enumerate(arrays.items()):
        top, bottom = axes[0, col], axes[1, col]
        top.imshow(k, cmap=SIGNED_CMAP, vmin=-m, vmax=m)
        if max(k.shape) <= 5:
            _annotate(top, k, -m, m, 1.6 / max(k.shape))
        top.set_title(name, fontsize=10)
        top.axis("off")
        im = bottom.imshow(resp[name], cmap="magma", vmin=lo, vmax=hi, extent=(-0.5, 0.5, -0.5, 0.5))
        bottom.set_xlabel("$f_x$ (cycles/pixel)", fontsize=10)
        bottom.tick_params(labelsize=10)
    axes[1, 0].set_ylabel("$f_y$ (cycles/pixel)", fontsize=10)
    _layout(fig, True)
    _grid_colorbar(fig, list(axes[1]), im, label)
    return fig


def show_map_rows(
    rows: dict[str, ArrayLike],
    signed: Sequence[str] = (),
    titles: Sequence[str] | None = None,
    size: float = 1.0,
    suptitle: str | None = None,
    gray: Sequence[str] = ("image", "input"),
    colorbar_labels: Mapping[str, str] | None = None,
) -> plt.Figure:
    """Rows of maps of the same N images, one row per entry of ``rows``, each with a colorbar.

    rows: {name: (N, H, W) or (N, 1, H, W)}, e.g. the images, then one attribution method
    per row. A row named in ``signed`` is drawn in a diverging colormap (``"bwr"``, white
    at 0) on a symmetric scale [-m, m]; other rows whose values are all >= 0 use
    ``"viridis"`` on [0, max]; a row named in ``gray`` whose values lie in [0, 1] (images)
    is drawn in gray on [0, 1]. Every row shares ONE scale
    across its N panels, so the panels of a row compare. Figure: ``size`` inches per panel.
    ``colorbar_labels``: {row name: what its colorbar measures}, e.g. {"saliency": "|gradient|"}.
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
    colorbar_labels = {} if colorbar_labels is None else colorbar_labels
    if not isinstance(colorbar_labels, Mapping) or not all(isinstance(v, str) for v in colorbar_labels.values()):
        raise TypeError(f"colorbar_labels must be a dict {{row name: label str}}, got {colorbar_labels!r}")
    if set(colorbar_labels) - set(arrays):
        raise ValueError(f"colorbar_labels names rows that do not exist: {sorted(set(colorbar_labels) - set(arrays))}")
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
                ax.set_title(str(titles[c]), fontsize=10)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
        cb = fig.colorbar(im, ax=list(axes[r]), fraction=0.02, pad=0.01)
        cb.ax.tick_params(labelsize=10)
        if name in colorbar_labels:
            cb.set_label(colorbar_labels[name], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1.0 + 0.3 / fig.get_figheight())   # above the column titles
    return fig


def legible(fig: plt.Figure, min_size: float = 10.0, colorbar_labels: Sequence[str] = ()) -> plt.Figure:
    """Raise every text of ``fig`` (titles, labels, tick labels, legends, annotations) to at
    least ``min_size`` points, so that a figure shown on a 1280x720 slide stays readable, and
    label its colorbars in the order they were made with ``colorbar_labels``. Returns ``fig``.
    Texts already larger keep their size."""
    from matplotlib.text import Text

    if not isinstance(fig, plt.Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, float)) or min_size <= 0:
        raise ValueError(f"min_size must be a positive number of points, got {min_size!r}")
    if isinstance(colorbar_labels, str) or not all(isinstance(c, str) for c in colorbar_labels):
        raise TypeError(f"colorbar_labels must be a sequence of str, got {colorbar_labels!r}")
    every_axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]
    colorbars = [ax for ax in every_axes if ax.get_label() in ("<colorbar>", "colorbar")]
    if len(colorbar_labels) > len(colorbars):
        raise ValueError(f"colorbar_labels has {len(colorbar_labels)} labels, the figure {len(colorbars)} colorbars")
    for ax, label in zip(colorbars, colorbar_labels):
        ax.set_ylabel(label, fontsize=min_size)
    for ax in every_axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                size = tick.label1.get_fontsize()
                if size < min_size:
                    axis.set_tick_params(labelsize=min_size)
                    break
    for text in fig.findobj(Text):
        if text.get_fontsize() < min_size:
            text.set_fontsize(min_size)
    return fig


def label_points(ax: plt.Axes, points: ArrayLike, labels: Sequence[str], colors: Sequence | None = None,
                 min_gap: float = 0.07, iterations: int = 200) -> list:
    """Mark K points (for example class centres) on ``ax`` and label each one so that no two
    labels overlap: a label starts on its point and is pushed away from the labels closer
    than ``min_gap`` (a fraction of the axes' width and height) until none is; a moved label
    gets a thin line to its point. points: (K, 2) in data coordinates. Returns the K label
    texts (their final positions: ``t.xyann`` in data coordinates)."""
    if not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    p = _np(points).astype(np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise ValueError(f"points must have shape (K, 2) with K >= 1, got {p.shape}")
    if len(labels) != len(p):
        raise ValueError(f"labels must have one entry per point ({len(p)}), got {len(labels)}")
    if colors is not None and len(colors) != len(p):
        raise ValueError(f"colors must have one entry per point ({len(p)}), got {len(colors)}")
    if isinstance(min_gap, bool) or not isinstance(min_gap, (int, float)) or not 0 < min_gap < 0.5:
        raise ValueError(f"min_gap must be a fraction of the axes between 0 and 0.5, got {min_gap!r}")
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    span = np.array([x1 - x0, y1 - y0])
    lo = np.array([x0, y0])
    home = (p - lo) / span                                   # axes fractions
    pos = home.copy()
    rng = np.random.default_rng(0)                           # breaks exact ties, the same every run
    for _ in range(iterations):
        d = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(d, axis=2) + np.eye(len(pos))
        close = (dist < min_gap) & ~np.eye(len(pos), dtype=bool)
        if not close.any():
            break
        d = np.where(dist[..., None] < 1e-9, rng.normal(size=d.shape) * 1e-3, d)
        push = (close[..., None] * d / dist[..., None] * (min_gap - dist)[..., None] / 2).sum(axis=1)
        pos = np.clip(pos + push, 0.03, 0.97)
    texts = []
    for k, (xy, where) in enumerate(zip(p, pos * span + lo)):
        color = colors[k] if colors is not None else "black"
        ax.plot(*xy, marker="o", ms=5, color=color, mec="black", mew=0.8, zorder=5)
        moved = np.linalg.norm((where - xy) / span) > 0.01
        texts.append(ax.annotate(str(labels[k]), xy=tuple(xy), xytext=tuple(where), ha="center", va="center",
                                 fontsize=12, weight="bold", zorder=6,
                                 bbox=dict(boxstyle="circle,pad=0.2", fc="white", ec=color, lw=2),
                                 arrowprops=dict(arrowstyle="-", color="black", lw=0.8) if moved else None))
    return texts

"""A convolution explorer: which input cells each output reads, how often each input pixel
is used, and the output-size formula with the learner's numbers.

The logic is pure NumPy (:func:`conv_taps`, :func:`usage_counts`, :func:`output_size_text`)
and tested against ``F.unfold``; the drawings build on it:

- :func:`show_conv_step`: one position of the window (padded input, output, usage counts);
- :func:`show_conv_frames`: a strip of consecutive window positions (the static version,
  for stored outputs, slides and print);
- :func:`conv_animation`: the same as a matplotlib animation (``.to_jshtml()`` works offline);
- :func:`conv_explorer`: an ipywidgets panel with sliders for input size, kernel size,
  padding, stride and dilation and the output position, and a text readout of them
  (:func:`explorer_summary`) (needs a live kernel).
"""
from __future__ import annotations

import html
import textwrap

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from . import _validate
from .shapes import conv2d_output_size

Pair = tuple[int, int]


def _geometry(in_size: Any, kernel_size: Any, padding: Any, stride: Any, dilation: Any) -> tuple[Pair, ...]:
    n = _validate.pair("in_size", in_size)
    k = _validate.pair("kernel_size", kernel_size)
    p = _validate.pair("padding", padding, check=_validate.nonneg_int)
    s = _validate.pair("stride", stride)
    d = _validate.pair("dilation", dilation)
    for axis in (0, 1):
        span = d[axis] * (k[axis] - 1) + 1
        if span > n[axis] + 2 * p[axis]:
            raise ValueError(f"kernel_size {k[axis]} with dilation {d[axis]} spans {span} pixels, more than the "
                             f"padded input ({n[axis]} + 2*{p[axis]} = {n[axis] + 2 * p[axis]}): in_size too small")
    return n, k, p, s, d


def conv_taps(in_size: Any, kernel_size: Any, padding: Any = 0, stride: Any = 1, dilation: Any = 1) -> np.ndarray:
    """The input cell each tap of each window reads, as ``nn.Conv2d`` slides its kernel.

    Arguments as in ``nn.Conv2d`` (an int or a pair (height, width) each); ``in_size`` is
    the input's (H, W). Returns an int array of shape ``(H_out, W_out, kH, kW, 2)``:
    ``taps[i, j, u, v] = (row, col)`` of the input that weight ``(u, v)`` multiplies for
    output ``(i, j)``, i.e. ``(i*s - p + u*d, j*s - p + v*d)`` per axis. Coordinates are in
    the unpadded input, so a tap on the padding lies outside ``[0, H) x [0, W)``.
    """
    n, k, p, s, d = _geometry(in_size, kernel_size, padding, stride, dilation)
    out = [conv2d_output_size(n[a], k[a], s[a], p[a], d[a]) for a in (0, 1)]
    rows = np.arange(out[0])[:, None] * s[0] - p[0] + np.arange(k[0])[None, :] * d[0]     # (H_out, kH)
    cols = np.arange(out[1])[:, None] * s[1] - p[1] + np.arange(k[1])[None, :] * d[1]     # (W_out, kW)
    taps = np.empty((out[0], out[1], k[0], k[1], 2), dtype=np.int64)
    taps[..., 0] = rows[:, None, :, None]
    taps[..., 1] = cols[None, :, None, :]
    return taps


def usage_counts(in_size: Any, kernel_size: Any, padding: Any = 0, stride: Any = 1, dilation: Any = 1) -> np.ndarray:
    """How many (output, tap) pairs read each input pixel: an int array of shape (H, W).

    Without padding the border pixels are read less often than the centre ones (a corner
    once, by a stride-1 kxk kernel); pixels that no window reaches (a stride that does not
    divide the span) get 0.
    """
    n = _validate.pair("in_size", in_size)
    taps = conv_taps(in_size, kernel_size, padding, stride, dilation).reshape(-1, 2)
    inside = (taps[:, 0] >= 0) & (taps[:, 0] < n[0]) & (taps[:, 1] >= 0) & (taps[:, 1] < n[1])
    counts = np.zeros(n, dtype=np.int64)
    np.add.at(counts, (taps[inside, 0], taps[inside, 1]), 1)
    return counts


def output_size_text(n: int, k: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> str:
    """The output-size formula of one axis with the numbers filled in, e.g.
    ``"floor((7 + 2*1 - 2*(3-1) - 1) / 2) + 1 = floor(4 / 2) + 1 = 3"``."""
    n, k = _validate.positive_int("n", n), _validate.positive_int("k", k)
    n, k, p, s, d = (v[0] for v in _geometry(n, k, padding, stride, dilation))
    top = n + 2 * p - d * (k - 1) - 1
    out = conv2d_output_size(n, k, s, p, d)
    return f"floor(({n} + 2*{p} - {d}*({k}-1) - 1) / {s}) + 1 = floor({top} / {s}) + 1 = {out}"


# ---------------------------------------------------------------------------- drawings

TAP_RGB = (0.95, 0.45, 0.45)      # a cell the window reads
PAD_RGB = (0.85, 0.85, 0.85)      # padding
TAP_ON_PAD_RGB = (0.8, 0.35, 0.35)


def _draw_input(ax: plt.Axes, n: Pair, p: Pair, taps: np.ndarray | None) -> np.ndarray:
    """The padded input as one RGB image: image cells white, padding grey, the window's taps red.
    Returns the (H + 2p, W + 2p, 3) image (row/col 0 = the first padding row/col)."""
    h, w = n[0] + 2 * p[0], n[1] + 2 * p[1]
    img = np.empty((h, w, 3))
    img[:] = PAD_RGB
    img[p[0]:p[0] + n[0], p[1]:p[1] + n[1]] = 1.0
    if taps is not None:
        for r, c in taps.reshape(-1, 2):
            inside = 0 <= r < n[0] and 0 <= c < n[1]
            img[r + p[0], c + p[1]] = TAP_RGB if inside else TAP_ON_PAD_RGB
    ax.imshow(img, extent=(-p[1] - 0.5, n[1] + p[1] - 0.5, n[0] + p[0] - 0.5, -p[0] - 0.5), interpolation="nearest")
    _cell_lines(ax, (-p[0] - 0.5, n[0] + p[0] - 0.5), (-p[1] - 0.5, n[1] + p[1] - 0.5))
    ax.add_patch(Rectangle((-0.5, -0.5), n[1], n[0], fill=False, ec="black", lw=1.5))
    return img


def _cell_lines(ax: plt.Axes, rows: tuple[float, float], cols: tuple[float, float]) -> None:
    """Thin lines between the cells (two line collections: far cheaper to draw than minor ticks)."""
    ax.hlines(np.arange(rows[0], rows[1] + 0.5), cols[0], cols[1], colors="0.6", lw=0.5)
    ax.vlines(np.arange(cols[0], cols[1] + 0.5), rows[0], rows[1], colors="0.6", lw=0.5)
    ax.set_xlim(cols)
    ax.set_ylim(rows[1], rows[0])
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_grid(ax: plt.Axes, shape: Pair, mark: Pair | None = None, done: int | None = None) -> None:
    """The output grid: computed cells light blue, the current one dark blue."""
    grid = np.zeros(shape)
    if done is not None:
        grid.flat[:done] = 0.35
    if mark is not None:
        grid[mark] = 1.0
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=1.2)
    _cell_lines(ax, (-0.5, shape[0] - 0.5), (-0.5, shape[1] - 0.5))


def show_conv_step(in_size: Any = 7, kernel_size: Any = 3, padding: Any = 0, stride: Any = 1, dilation: Any = 1,
                   position: Any = (0, 0)) -> plt.Figure:
    """One window position: the padded input with the window's taps (red, padding grey),
    the output with the cell they produce (dark blue), and how often every input pixel is
    used over all positions (numbers in the cells). Figure 12 x 4.2 inches."""
    n, k, p, s, d = _geometry(in_size, kernel_size, padding, stride, dilation)
    taps = conv_taps(n, k, p, s, d)
    pos = _validate.pair("position", position, check=_validate.nonneg_int)
    if pos[0] >= taps.shape[0] or pos[1] >= taps.shape[1]:
        raise ValueError(f"position must lie inside the output {taps.shape[:2]}, got {pos}")
    counts = usage_counts(n, k, p, s, d)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), gridspec_kw={"width_ratios": [n[1] + 2 * p[1], max(taps.shape[1], 3), n[1]]})
    _draw_input(axes[0], n, p, taps[pos])
    axes[0].set_title(f"input {n[0]}x{n[1]}, padding {p[0]}: window of output {pos}", fontsize=10)
    _draw_grid(axes[1], taps.shape[:2], pos, done=pos[0] * taps.shape[1] + pos[1])
    axes[1].set_title(f"output {taps.shape[0]}x{taps.shape[1]}", fontsize=10)
    im = axes[2].imshow(counts, cmap="viridis", vmin=0, vmax=max(int(counts.max()), 1))
    for (r, c), v in np.ndenumerate(counts):
        axes[2].text(c, r, str(v), ha="center", va="center", fontsize=10, color="white" if v < 0.6 * counts.max() else "black")
    axes[2].set_title("uses of each input pixel", fontsize=10)
    axes[2].set_xticks([])
    axes[2].set_yticks([])
    top = max(int(counts.max()), 1)
    cb = fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04, ticks=range(0, top + 1, max(1, top // 5)))
    cb.ax.tick_params(labelsize=10)
    cb.set_label("windows using the pixel", fontsize=10)
    fig.suptitle(f"kernel {k[0]}x{k[1]}, stride {s[0]}, dilation {d[0]}:  H_out = {output_size_text(n[0], k[0], p[0], s[0], d[0])}",
                 fontsize=11)
    fig.tight_layout()
    return fig


def _positions(out_shape: Pair, frames: int) -> list[Pair]:
    """Up to ``frames`` output positions in row-major order: the first ``frames - 1`` (the
    window stepping along the first row and on to the next) and the last one."""
    total = out_shape[0] * out_shape[1]
    idx = list(range(min(frames, total) - 1)) + [total - 1] if total > 1 else [0]
    return [divmod(i, out_shape[1]) for i in idx]


def show_conv_frames(in_size: Any = 5, kernel_size: Any = 3, padding: Any = 0, stride: Any = 1, dilation: Any = 1,
                     frames: int = 5, size: float = 2.2) -> plt.Figure:
    """A strip of window positions (the static explorer, for stored outputs and slides):
    top row the padded input with the window's taps, bottom row the output with that
    output cell; then a last column with the usage count of each input pixel."""
    n, k, p, s, d = _geometry(in_size, kernel_size, padding, stride, dilation)
    frames = _validate.positive_int("frames", frames)
    taps = conv_taps(n, k, p, s, d)
    counts = usage_counts(n, k, p, s, d)
    positions = _positions(taps.shape[:2], frames)
    cols = len(positions) + 1
    fig, axes = plt.subplots(2, cols, figsize=(size * (cols + 0.4), 1.9 * size + 1.1), squeeze=False,
                             gridspec_kw={"height_ratios": [1.25, 0.65], "width_ratios": [1] * (cols - 1) + [1.4]})
    for c, pos in enumerate(positions):
        _draw_input(axes[0, c], n, p, taps[pos])
        last = c == len(positions) - 1 and len(positions) < taps.shape[0] * taps.shape[1]
        axes[0, c].set_title(f"output {pos}" + (" (last)" if last else ""), fontsize=10)
        _draw_grid(axes[1, c], taps.shape[:2], pos, done=pos[0] * taps.shape[1] + pos[1])
    axes[0, 0].set_ylabel("input (padding grey)" if max(p) else "input", fontsize=10)
    axes[1, 0].set_ylabel(f"output {taps.shape[0]}x{taps.shape[1]}", fontsize=10)
    ax = axes[0, -1]
    top = max(int(counts.max()), 1)
    im = ax.imshow(counts, cmap="viridis", vmin=0, vmax=top)
    cell_pt = size * 72 / max(counts.shape)            # points per cell of the usage map
    if cell_pt >= 12:
        for (r, c), v in np.ndenumerate(counts):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=10,
                    color="white" if v < 0.6 * counts.max() else "black")
    cb = fig.colorbar(im, ax=ax, fraction=0.08, pad=0.03, ticks=range(0, top + 1, max(1, top // 5)))
    cb.ax.tick_params(labelsize=10)
    cb.set_label("windows using the pixel", fontsize=10)
    ax.set_title("uses per pixel", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    axes[1, -1].axis("off")
    axes[1, -1].text(0.5, 0.5, f"H_out =\n{output_size_text(n[0], k[0], p[0], s[0], d[0]).replace(' = ', chr(10) + '= ', 1)}",
                     ha="center", va="center", fontsize=10, transform=axes[1, -1].transAxes)
    fig.suptitle(f"{n[0]}x{n[1]} input, kernel {k[0]}x{k[1]}, padding {p[0]}, stride {s[0]}, dilation {d[0]}", fontsize=11)
    skipped = len(positions) < taps.shape[0] * taps.shape[1]
    legend = ("red: the window's taps" + (", grey: padding" if max(p) else "")
              + "; output: dark blue = this frame's cell, light blue = cells computed before"
              + ("; the last frame jumps to the final position" if skipped else ""))
    lines = textwrap.wrap(legend, width=max(40, int(fig.get_figwidth() * 72 / 5.8)))   # ~5.8 pt per 10-pt char
    fig.text(0.5, 0.01, "\n".join(lines), ha="center", va="bottom", fontsize=10)
    fig.tight_layout(rect=(0, (0.2 * len(lines) + 0.1) / fig.get_figheight(), 1, 1))
    return fig


def conv_animation(in_size: Any = 5, kernel_size: Any = 3, padding: Any = 0, stride: Any = 1, dilation: Any = 1,
                   interval: int = 600) -> Any:
    """The window sliding over every output position, as a ``matplotlib.animation.FuncAnimation``
    (``anim.to_jshtml()`` gives HTML that plays offline, e.g. in a stored notebook output)."""
    from matplotlib import animation

    n, k, p, s, d = _geometry(in_size, kernel_size, padding, stride, dilation)
    interval = _validate.positive_int("interval", interval)
    taps = conv_taps(n, k, p, s, d)
    out_shape = taps.shape[:2]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), gridspec_kw={"width_ratios": [n[1] + 2 * p[1], max(out_shape[1], 3)]})

    def frame(t: int) -> list:
        pos = divmod(t, out_shape[1])
        for ax in axes:
            ax.clear()
        _draw_input(axes[0], n, p, taps[pos])
        axes[0].set_title(f"input {n[0]}x{n[1]}, padding {p[0]}", fontsize=10)
        _draw_grid(axes[1], out_shape, pos, done=t)
        axes[1].set_title(f"output {pos} of {out_shape[0]}x{out_shape[1]}", fontsize=10)
        return []

    fig.suptitle(f"kernel {k[0]}x{k[1]}, stride {s[0]}, dilation {d[0]}", fontsize=11)
    fig.tight_layout()
    anim = animation.FuncAnimation(fig, frame, frames=out_shape[0] * out_shape[1], interval=interval, blit=False)
    plt.close(fig)
    return anim


def explorer_summary(in_size: int, kernel_size: int, padding: int = 0, stride: int = 1, dilation: int = 1,
                     position: Pair = (0, 0)) -> str:
    """The explorer's text readout (HTML) for square settings: every slider's value, the
    output-size formula with these numbers, which input rows/cols the window of output
    ``position`` reads, and the fewest/most uses of an input pixel. A kernel that does not
    fit gives the reason instead (no exception), as the explorer shows it."""
    head = (f"input {in_size}x{in_size}, kernel {kernel_size}x{kernel_size}, padding {padding}, "
            f"stride {stride}, dilation {dilation}")
    try:
        taps = conv_taps(in_size, kernel_size, padding, stride, dilation)
    except ValueError as err:
        return f"<b>{head}</b><br><span style='color:#b00020'>{html.escape(str(err))}</span>"
    r, c = (min(max(int(v), 0), taps.shape[a] - 1) for a, v in enumerate(position))
    rows, cols = taps[r, c, :, 0, 0], taps[r, c, 0, :, 1]
    counts = usage_counts(in_size, kernel_size, padding, stride, dilation)
    step = f" step {dilation}" if dilation > 1 else ""
    lines = [
        f"<b>{head}</b>",
        f"H_out = W_out = {output_size_text(in_size, kernel_size, padding, stride, dilation)}",
        f"output ({r}, {c}) of {taps.shape[0]}x{taps.shape[1]} reads input rows {rows[0]}..{rows[-1]}, "
        f"cols {cols[0]}..{cols[-1]}{step}" + (f" (&lt; 0 or &ge; {in_size}: padding)" if padding else ""),
        f"uses of an input pixel: fewest {counts.min()}, most {counts.max()} "
        f"(corner {counts[0, 0]}, centre {counts[in_size // 2, in_size // 2]})",
    ]
    return "<br>".join(lines)


def conv_explorer(in_size: int = 7, kernel_size: int = 3, padding: int = 0, stride: int = 1, dilation: int = 1) -> Any:
    """An ipywidgets panel: sliders for input size, kernel size, padding, stride, dilation and
    the output position (row, col), each with its value shown beside it, a text readout
    (:func:`explorer_summary`: the output-size formula with these numbers, the window's rows
    and cols, the usage counts) and below them :func:`show_conv_step`, redrawn on every
    change. The figure sits under the controls, not beside them, so that it cannot cover the
    sliders' values. Settings whose kernel does not fit are reported instead of drawn.
    Needs a live Jupyter kernel. Returns a ``VBox([controls, readout, figure])``."""
    import ipywidgets as W
    from IPython.display import display

    _geometry(in_size, kernel_size, padding, stride, dilation)
    style = {"description_width": "80px"}

    def slider(value: int, lo: int, hi: int, label: str) -> Any:
        return W.IntSlider(value, lo, hi, description=label, readout=True, readout_format="d",
                           continuous_update=False, style=style, layout=W.Layout(width="330px"))

    sliders = {
        "in_size": slider(in_size, 3, 12, "input size"),
        "kernel_size": slider(kernel_size, 1, 7, "kernel"),
        "padding": slider(padding, 0, 3, "padding"),
        "stride": slider(stride, 1, 4, "stride"),
        "dilation": slider(dilation, 1, 3, "dilation"),
        "row": slider(0, 0, 10, "output row"),
        "col": slider(0, 0, 10, "output col"),
    }
    names = list(sliders)
    column = W.Layout(flex="0 0 auto", margin="0 24px 0 0")
    controls = W.HBox([W.VBox([sliders[n] for n in names[:4]], layout=column),
                       W.VBox([sliders[n] for n in names[4:]], layout=column)],
                      layout=W.Layout(flex_flow="row wrap"))
    readout = W.HTML(layout=W.Layout(width="100%", margin="4px 0 6px 8px"))
    out = W.Output(layout=W.Layout(width="100%"))
    busy = [False]        # setting the row/col sliders' max inside redraw must not redraw again

    def redraw(_: Any = None) -> None:
        if busy[0]:
            return
        busy[0] = True
        try:
            _redraw()
        finally:
            busy[0] = False

    def _redraw() -> None:
        v = {name: sl.value for name, sl in sliders.items()}
        geom = (v["in_size"], v["kernel_size"], v["padding"], v["stride"], v["dilation"])
        out.clear_output(wait=True)
        try:
            taps = conv_taps(*geom)
        except ValueError:
            readout.value = f"<div style='font-family:monospace;line-height:1.5'>{explorer_summary(*geom)}</div>"
            return
        sliders["row"].max, sliders["col"].max = taps.shape[0] - 1, taps.shape[1] - 1
        pos = (sliders["row"].value, sliders["col"].value)
        readout.value = f"<div style='font-family:monospace;line-height:1.5'>{explorer_summary(*geom, pos)}</div>"
        with out:
            fig = show_conv_step(*geom, pos)
            display(fig)
            plt.close(fig)

    for sl in sliders.values():
        sl.observe(redraw, names="value")
    redraw()
    panel = W.VBox([controls, readout, out])
    panel.sliders = sliders              # for tests and for a learner who wants to set them from code
    panel.readout = readout
    return panel

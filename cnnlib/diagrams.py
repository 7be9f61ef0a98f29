"""Block diagrams drawn from code: boxes, arrows and labels in one style (matplotlib only).

The course's architecture diagrams (``tools/make_diagrams.py`` writes them to
``notebooks/figures/*.svg``) are built from these primitives, and their numbers come from
running the real :mod:`cnnlib.models` (:func:`trace_shapes`), so a label cannot drift from
the model it describes.

A diagram is drawn on a :func:`canvas` whose data coordinates are **inches** (x from 0 to
the width, y from 0 to the height, origin bottom left), so box sizes and gaps read the same
on every figure. :func:`box` draws a rounded box with centred lines of text (one colour per
kind of layer, :data:`KINDS`), :func:`row` lays boxes out side by side, :func:`arrow` and
:func:`connect` join them, :func:`note` writes free text. :func:`layout_problems` measures
the result (text over text, text out of its box or out of the figure) and :func:`save_svg`
writes an SVG that is byte-for-byte the same on every run (no date, fixed ids, text kept as
``<text>`` elements, which :func:`svg_texts` reads back).

>>> fig, ax = canvas(4, 1.5)
>>> a = box(ax, (1, 0.75), "conv 3x3", kind="conv")
>>> b = box(ax, (3, 0.75), "pool 2x2", kind="pool")
>>> label = connect(ax, a, b, label="8x28x28")
>>> layout_problems(fig)
[]
"""
from __future__ import annotations

import io
import numbers
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.text import Text

from . import _validate

#: Face and edge colour of each kind of box.
KINDS: dict[str, tuple[str, str]] = {
    "data": ("#f2f2f2", "#6b6b6b"),      # an input, a code, an output
    "conv": ("#d3e3f6", "#3d6fa8"),      # convolutions (also 1x1)
    "pool": ("#fbe3c2", "#b8782a"),      # max / average pooling
    "fc": ("#e4d9f1", "#6e51a0"),        # dense (fully connected) layers, flatten
    "norm": ("#d9eed4", "#4b8a3f"),      # BatchNorm, LRN, ReLU-only steps
    "merge": ("#f7d4d4", "#b03a3a"),     # concatenation, addition
    "up": ("#d2eeec", "#2e8a83"),        # upsampling, unpooling, transposed convolution
    "plain": ("#ffffff", "#6b6b6b"),     # a frame or a neutral box
}
FONT_SIZE = 12       # box text, in points (a 10-inch figure shows 12 pt as 16 px on a slide)
LABEL_SIZE = 11      # shape labels on arrows, notes
TITLE_SIZE = 14
TEXT_COLOR = "#1a1a1a"
ARROW_COLOR = "#333333"
LINE_SPACING = 1.3   # baseline to baseline, in font sizes
PAD = 0.12           # inches between a box's text and its edge
SVG_SALT = "cnnlib.diagrams"

_SIDES = ("left", "right", "top", "bottom", "center")


@dataclass(frozen=True)
class Box:
    """A drawn box: centre ``(x, y)``, size ``w`` x ``h`` in inches, and its text."""

    x: float
    y: float
    w: float
    h: float
    text: str = ""
    kind: str = "plain"
    texts: tuple = field(default=(), repr=False, compare=False)   # its Text artists

    def anchor(self, side: str = "center") -> tuple[float, float]:
        """The point in the middle of ``side`` (``"left"``, ``"right"``, ``"top"``,
        ``"bottom"`` or ``"center"``)."""
        if side not in _SIDES:
            raise ValueError(f"side must be one of {_SIDES}, got {side!r}")
        dx = {"left": -self.w / 2, "right": self.w / 2}.get(side, 0.0)
        dy = {"bottom": -self.h / 2, "top": self.h / 2}.get(side, 0.0)
        return (self.x + dx, self.y + dy)

    @property
    def left(self) -> float:
        return self.x - self.w / 2

    @property
    def right(self) -> float:
        return self.x + self.w / 2

    @property
    def top(self) -> float:
        return self.y + self.h / 2

    @property
    def bottom(self) -> float:
        return self.y - self.h / 2


# ---- argument checks --------------------------------------------------------------------

def _number(name: str, value: Any, positive: bool = False) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _point(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, Box):
        return (value.x, value.y)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a point (x, y) in inches or a Box, got {value!r}")
    return (_number(f"{name}[0]", value[0]), _number(f"{name}[1]", value[1]))


def _axes(name: str, ax: Any) -> Any:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"{name} must be the matplotlib Axes of a canvas(), got {type(ax).__name__}")
    if not getattr(ax, "_cnnlib_canvas", False):
        raise ValueError(f"{name} must come from cnnlib.diagrams.canvas() (its units are inches)")
    return ax


def _figure(name: str, fig: Any) -> Figure:
    if not isinstance(fig, Figure):
        raise TypeError(f"{name} must be a matplotlib Figure, got {type(fig).__name__}")
    return fig


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    return value


def _kind(kind: Any) -> str:
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    return kind


def _box_arg(name: str, value: Any) -> Box:
    if not isinstance(value, Box):
        raise TypeError(f"{name} must be a Box (from cnnlib.diagrams.box), got {type(value).__name__}")
    return value


# ---- drawing ------------------------------------------------------------------------------

def canvas(width: float = 10.0, height: float = 4.0) -> tuple[Figure, Any]:
    """A blank figure of ``width`` x ``height`` inches and an axes whose units are inches.

    Returns ``(fig, ax)``; ``ax`` spans the whole figure, with no ticks or frame. (The
    figure is not registered with pyplot: nothing shows up in a notebook by accident.)
    """
    width = _number("width", width, positive=True)
    height = _number("height", height, positive=True)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)           # text is measured with Agg's renderer (the same metrics as SVG's)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    ax._cnnlib_canvas = True
    fig._cnnlib_boxes = []
    return fig, ax


def _line_offsets(n: int, fontsize: float) -> list[float]:
    step = fontsize * LINE_SPACING / 72.0
    return [((n - 1) / 2 - i) * step for i in range(n)]


def text_size(ax: Any, text: str, fontsize: float = FONT_SIZE, weight: str = "normal") -> tuple[float, float]:
    """Width and height in inches of ``text`` (lines split at ``\\n``) as :func:`box` sets it."""
    ax = _axes("ax", ax)
    text = _text("text", text)
    fontsize = _number("fontsize", fontsize, positive=True)
    renderer = ax.figure.canvas.get_renderer()
    lines = text.split("\n")
    widths = []
    for line in lines:
        t = Text(0, 0, line or " ", fontsize=fontsize, fontweight=weight, figure=ax.figure)
        widths.append(t.get_window_extent(renderer).width / ax.figure.dpi)
    height = (len(lines) - 1) * fontsize * LINE_SPACING / 72.0 + fontsize * 1.2 / 72.0
    return max(widths), height


def _centred_lines(ax: Any, x: float, y: float, text: str, fontsize: float, color: str,
                   weight: str = "normal") -> tuple[Text, ...]:
    lines = text.split("\n")
    return tuple(ax.text(x, y + dy, line, ha="center", va="center", fontsize=fontsize, color=color,
                         fontweight=weight)
                 for line, dy in zip(lines, _line_offsets(len(lines), fontsize)))


def box(ax: Any, xy: Any, text: str, kind: str = "conv", width: float | None = None,
        height: float | None = None, fontsize: float = FONT_SIZE, weight: str = "normal") -> Box:
    """Draw a rounded box centred at ``xy`` (inches) with ``text`` centred in it, line by line.

    ``width`` / ``height`` default to the text's size plus :data:`PAD` on each side.
    ``kind`` picks the colours (:data:`KINDS`). Returns the :class:`Box`.
    """
    ax = _axes("ax", ax)
    x, y = _point("xy", xy)
    text = _text("text", text)
    kind = _kind(kind)
    fontsize = _number("fontsize", fontsize, positive=True)
    tw, th = text_size(ax, text, fontsize, weight) if text else (0.0, 0.0)
    w = _number("width", width, positive=True) if width is not None else tw + 2 * PAD
    h = _number("height", height, positive=True) if height is not None else th + 2 * PAD
    face, edge = KINDS[kind]
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                           facecolor=face, edgecolor=edge, linewidth=1.3, zorder=2)
    ax.add_patch(patch)
    texts = _centred_lines(ax, x, y, text, fontsize, TEXT_COLOR, weight) if text else ()
    for t in texts:
        t.set_zorder(4)
    b = Box(x, y, w, h, text, kind, texts)
    ax.figure._cnnlib_boxes.append(b)
    return b


def row(ax: Any, texts: Sequence[str], y: float, left: float, right: float,
        kinds: Sequence[str] | str = "conv", widths: Sequence[float] | None = None,
        height: float | None = None, fontsize: float = FONT_SIZE, min_gap: float = 0.3) -> list[Box]:
    """Boxes side by side at height ``y``, the first starting at ``left``, the last ending
    at ``right`` (inches), with equal gaps between them.

    ``kinds`` is one kind for all or one per box; ``widths`` one width per box (default:
    each box's text width). All boxes get the height of the tallest unless ``height`` is
    given. Raises ValueError if the gaps would be under ``min_gap`` inches.
    """
    ax = _axes("ax", ax)
    texts = [_text(f"texts[{i}]", t) for i, t in enumerate(
        _validate.iterable("texts", texts, "a sequence of box texts"))]
    if not texts:
        raise ValueError("texts must name at least one box")
    y = _number("y", y)
    left, right = _number("left", left), _number("right", right)
    if right <= left:
        raise ValueError(f"right must be greater than left, got left={left}, right={right}")
    if isinstance(kinds, str):
        kinds = [kinds] * len(texts)
    kinds = _validate.iterable("kinds", kinds, "a kind or one kind per box")
    if len(kinds) != len(texts):
        raise ValueError(f"kinds must have one entry per box ({len(texts)}), got {len(kinds)}")
    kinds = [_kind(k) for k in kinds]
    fontsize = _number("fontsize", fontsize, positive=True)
    sizes = [text_size(ax, t, fontsize) for t in texts]
    if widths is None:
        ws = [w + 2 * PAD for w, _ in sizes]
    else:
        widths = _validate.iterable("widths", widths, "one width per box")
        if len(widths) != len(texts):
            raise ValueError(f"widths must have one entry per box ({len(texts)}), got {len(widths)}")
        ws = [_number(f"widths[{i}]", w, positive=True) for i, w in enumerate(widths)]
    h = _number("height", height, positive=True) if height is not None else max(s[1] for s in sizes) + 2 * PAD
    gap = (right - left - sum(ws)) / (len(ws) - 1) if len(ws) > 1 else 0.0
    if len(ws) > 1 and gap < _number("min_gap", min_gap):
        raise ValueError(f"the boxes do not fit between left={left} and right={right}: gaps of {gap:.2f} in "
                         f"< min_gap={min_gap}")
    out, x = [], left if len(ws) > 1 else (left + right) / 2 - ws[0] / 2
    for t, k, w in zip(texts, kinds, ws):
        out.append(box(ax, (x + w / 2, y), t, kind=k, width=w, height=h, fontsize=fontsize))
        x += w + gap
    return out


def flow(ax: Any, texts: Sequence[str], labels: Sequence[str | None], y: float, left: float, right: float,
         kinds: Sequence[str] | str = "conv", height: float | None = None, fontsize: float = FONT_SIZE,
         label_size: float = LABEL_SIZE, label_side: str = "above", reverse: bool = False) -> list[Box]:
    """A chain of boxes joined by labelled arrows (``labels[i]`` on the arrow from box i to
    box i + 1, e.g. the tensor shape), spread from ``left`` to ``right`` (inches) at height
    ``y``: each gap is as wide as its label needs (at least 0.35 in), the room left over is
    shared equally. ``reverse`` runs the chain right to left (box 0 at the right).

    Raises ValueError if the boxes and labels do not fit between ``left`` and ``right``.
    """
    ax = _axes("ax", ax)
    texts = [_text(f"texts[{i}]", t) for i, t in enumerate(
        _validate.iterable("texts", texts, "a sequence of box texts"))]
    labels = _validate.iterable("labels", labels, "one label (or None) per arrow")
    if len(labels) != max(len(texts) - 1, 0):
        raise ValueError(f"labels must have one entry per arrow ({len(texts) - 1}), got {len(labels)}")
    label_size = _number("label_size", label_size, positive=True)
    reverse = _validate.flag("reverse", reverse)
    gaps = [max(0.35, text_size(ax, lab, label_size)[0] + 0.25) if lab else 0.35 for lab in labels]
    sizes = [text_size(ax, t, _number("fontsize", fontsize, positive=True)) for t in texts]
    widths = [w + 2 * PAD for w, _ in sizes]
    left, right = _number("left", left), _number("right", right)
    spare = (right - left) - sum(widths) - sum(gaps)
    if spare < 0:
        raise ValueError(f"the chain needs {sum(widths) + sum(gaps):.2f} in, but left={left} to right={right} "
                         f"leaves {right - left:.2f} in")
    if gaps:
        gaps = [g + spare / len(gaps) for g in gaps]
    order = list(range(len(texts)))
    if reverse:
        widths, gaps, order = widths[::-1], gaps[::-1], order[::-1]
    if isinstance(kinds, str):
        kinds = [kinds] * len(texts)
    kinds = _validate.iterable("kinds", kinds, "a kind or one kind per box")
    if len(kinds) != len(texts):
        raise ValueError(f"kinds must have one entry per box ({len(texts)}), got {len(kinds)}")
    h = _number("height", height, positive=True) if height is not None else max(s[1] for s in sizes) + 2 * PAD
    placed: dict[int, Box] = {}
    x = left if gaps else (left + right - widths[0]) / 2
    for j, i in enumerate(order):
        placed[i] = box(ax, (x + widths[j] / 2, y), texts[i], kind=kinds[i], width=widths[j], height=h,
                        fontsize=fontsize)
        x += widths[j] + (gaps[j] if j < len(gaps) else 0)
    out = [placed[i] for i in range(len(texts))]
    for a, b, lab in zip(out, out[1:], labels):
        connect(ax, a, b, label=lab or None, label_side=label_side, fontsize=label_size)
    return out


def arrow(ax: Any, start: Any, end: Any, label: str | None = None, label_side: str = "above",
          color: str = ARROW_COLOR, style: str = "-|>", rad: float = 0.0, linestyle: str = "-",
          fontsize: float = LABEL_SIZE, label_at: float = 0.5) -> Text | None:
    """An arrow from ``start`` to ``end`` (points in inches), optionally labelled.

    ``label`` is written ``label_side`` (``"above"``, ``"below"``, ``"left"`` or ``"right"``)
    of the point at fraction ``label_at`` along the segment; ``rad`` bends the arrow (an
    arc, as matplotlib's ``arc3``); ``style`` ``"-"`` draws a plain line. Returns the
    label's Text (or None).
    """
    ax = _axes("ax", ax)
    p, q = _point("start", start), _point("end", end)
    if label is not None:
        _text("label", label)
    if label_side not in ("above", "below", "left", "right"):
        raise ValueError(f"label_side must be 'above', 'below', 'left' or 'right', got {label_side!r}")
    rad = _number("rad", rad)
    label_at = _number("label_at", label_at)
    fontsize = _number("fontsize", fontsize, positive=True)
    ax.add_patch(FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=14, color=color, linewidth=1.3,
                                 linestyle=linestyle, connectionstyle=f"arc3,rad={rad}",
                                 shrinkA=0, shrinkB=0, zorder=3))
    return _label(ax, p, q, label, label_side, label_at, fontsize)


def _label(ax: Any, p: tuple[float, float], q: tuple[float, float], label: str | None, side: str,
           at: float, fontsize: float) -> Text | None:
    if not label:
        return None
    mx, my = p[0] + (q[0] - p[0]) * at, p[1] + (q[1] - p[1]) * at
    off = 0.05
    placement = {"above": (mx, my + off, "center", "bottom"), "below": (mx, my - off, "center", "top"),
                 "left": (mx - off, my, "right", "center"), "right": (mx + off, my, "left", "center")}
    tx, ty, ha, va = placement[side]
    return ax.text(tx, ty, label, ha=ha, va=va, fontsize=fontsize, color=TEXT_COLOR, zorder=4)


def path_arrow(ax: Any, points: Sequence[Any], label: str | None = None, label_segment: int = 0,
               label_side: str = "above", color: str = ARROW_COLOR, linestyle: str = "-",
               fontsize: float = LABEL_SIZE) -> Text | None:
    """An arrow along a polyline (e.g. an elbow around other boxes): straight segments
    through ``points`` (inches), the arrowhead on the last one. ``label`` goes on segment
    ``label_segment`` (0 = the first), as in :func:`arrow`."""
    ax = _axes("ax", ax)
    pts = [_point(f"points[{i}]", p) for i, p in enumerate(
        _validate.iterable("points", points, "a sequence of (x, y) points"))]
    if len(pts) < 2:
        raise ValueError(f"points must hold at least two points, got {len(pts)}")
    label_segment = _validate.nonneg_int("label_segment", label_segment)
    if label_segment >= len(pts) - 1:
        raise ValueError(f"label_segment must be < {len(pts) - 1} (the number of segments), got {label_segment}")
    for p, q in zip(pts[:-2], pts[1:-1]):
        ax.plot([p[0], q[0]], [p[1], q[1]], color=color, linewidth=1.3, linestyle=linestyle,
                solid_capstyle="butt", zorder=3)
    if label is not None:
        _text("label", label)
    if label_side not in ("above", "below", "left", "right"):
        raise ValueError(f"label_side must be 'above', 'below', 'left' or 'right', got {label_side!r}")
    fontsize = _number("fontsize", fontsize, positive=True)
    arrow(ax, pts[-2], pts[-1], color=color, linestyle=linestyle)
    return _label(ax, pts[label_segment], pts[label_segment + 1], label, label_side, 0.5, fontsize)


def grid(ax: Any, origin: Any, shape: tuple[int, int], cell: float = 0.2, mark: Any = None,
         kind: str = "conv") -> tuple[float, float, float, float]:
    """A ``rows x cols`` grid of square cells (a feature map seen from the front), lower-left
    corner at ``origin`` (inches); cells where the boolean array ``mark`` (rows, cols) is
    True are filled in ``kind``'s edge colour. Row 0 is drawn at the top.

    Returns the grid's (left, bottom, right, top) in inches.
    """
    import numpy as np
    from matplotlib.patches import Rectangle

    ax = _axes("ax", ax)
    x0, y0 = _point("origin", origin)
    rows, cols = _validate.pair("shape", shape)
    cell = _number("cell", cell, positive=True)
    kind = _kind(kind)
    if mark is not None:
        if not isinstance(mark, np.ndarray) or mark.shape != (rows, cols):
            raise ValueError(f"mark must be a NumPy array of shape {(rows, cols)}, got "
                             f"{getattr(mark, 'shape', type(mark).__name__)}")
        mark = mark.astype(bool)
    face, edge = KINDS[kind]
    for r in range(rows):
        for c in range(cols):
            on = mark is not None and mark[r, c]
            ax.add_patch(Rectangle((x0 + c * cell, y0 + (rows - 1 - r) * cell), cell, cell, facecolor=edge if on else face,
                                   edgecolor="#ffffff" if on else edge, linewidth=0.8, zorder=2, alpha=0.9 if on else 1.0))
    return (x0, y0, x0 + cols * cell, y0 + rows * cell)


def connect(ax: Any, a: Box, b: Box, label: str | None = None, sides: tuple[str, str] | None = None,
            **kwargs: Any) -> Text | None:
    """An arrow from box ``a`` to box ``b``, edge to edge.

    ``sides`` = (side of ``a``, side of ``b``); by default right -> left when ``b`` lies
    to the right of ``a``, left -> right when to its left, else bottom -> top (``b``
    below) or top -> bottom. Other keywords go to :func:`arrow`.
    """
    ax = _axes("ax", ax)
    a, b = _box_arg("a", a), _box_arg("b", b)
    if sides is None:
        if b.left >= a.right:
            sides = ("right", "left")
        elif b.right <= a.left:
            sides = ("left", "right")
        else:
            sides = ("bottom", "top") if b.y < a.y else ("top", "bottom")
    if not isinstance(sides, (tuple, list)) or len(sides) != 2:
        raise TypeError(f"sides must be a pair of sides such as ('right', 'left'), got {sides!r}")
    return arrow(ax, a.anchor(sides[0]), b.anchor(sides[1]), label, **kwargs)


def note(ax: Any, xy: Any, text: str, fontsize: float = LABEL_SIZE, ha: str = "center",
         color: str = TEXT_COLOR, weight: str = "normal") -> tuple[Text, ...]:
    """Free text at ``xy`` (inches), one centred (``ha="center"``), left- or right-aligned
    Text per line. Returns the Text artists."""
    ax = _axes("ax", ax)
    x, y = _point("xy", xy)
    text = _text("text", text)
    fontsize = _number("fontsize", fontsize, positive=True)
    if ha not in ("center", "left", "right"):
        raise ValueError(f"ha must be 'center', 'left' or 'right', got {ha!r}")
    lines = text.split("\n")
    return tuple(ax.text(x, y + dy, line, ha=ha, va="center", fontsize=fontsize, color=color, fontweight=weight,
                         zorder=4)
                 for line, dy in zip(lines, _line_offsets(len(lines), fontsize)))


def title(ax: Any, text: str, y: float | None = None) -> tuple[Text, ...]:
    """A bold title centred at the top of the canvas (``y`` inches, default 0.3 in below the top)."""
    ax = _axes("ax", ax)
    text = _text("text", text)
    top = ax.get_ylim()[1]
    y = top - 0.3 if y is None else _number("y", y)
    return note(ax, (ax.get_xlim()[1] / 2, y), text, fontsize=TITLE_SIZE, weight="bold")


def frame(ax: Any, left: float, bottom: float, right: float, top: float, label: str = "",
          color: str = "#8a8a8a") -> Text | None:
    """A dashed rectangle around a group of boxes, with ``label`` inside its top-left corner."""
    ax = _axes("ax", ax)
    left, bottom, right, top = (_number(n, v) for n, v in
                                (("left", left), ("bottom", bottom), ("right", right), ("top", top)))
    if right <= left or top <= bottom:
        raise ValueError(f"frame needs left < right and bottom < top, got {(left, bottom, right, top)}")
    label = _text("label", label)
    ax.add_patch(FancyBboxPatch((left, bottom), right - left, top - bottom, boxstyle="round,pad=0,rounding_size=0.1",
                                facecolor="none", edgecolor=color, linewidth=1.1, linestyle=(0, (4, 3)), zorder=1))
    if not label:
        return None
    return ax.text(left + 0.1, top - 0.08, label, ha="left", va="top", fontsize=LABEL_SIZE, color="#4d4d4d",
                   fontstyle="italic", zorder=4)


# ---- model introspection ------------------------------------------------------------------

def trace_shapes(model: Any, x: Any, names: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Run ``x`` through ``model`` (no gradients) and record the output shape of each named
    submodule (``model.get_submodule(name)``), batch dimension dropped.

    x: (N, ...) -> ``{name: (C, H, W)}`` (or ``(F,)`` for a dense layer). A module that
    returns a tuple (e.g. ``MaxPool2d(return_indices=True)``) reports its first element.
    """
    import torch

    model = _validate.module("model", model)
    x = _validate.tensor("x", x, "(N, ...)")
    names = [_text("names entry", n) for n in _validate.iterable("names", names, "submodule names")]
    modules = {}
    for n in names:
        try:
            modules[n] = model.get_submodule(n)
        except AttributeError:
            raise ValueError(f"names: model has no submodule {n!r}") from None
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(name):
        def record(module, args, out):
            out = out[0] if isinstance(out, tuple) else out
            shapes.setdefault(name, tuple(out.shape[1:]))
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in modules.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    missing = [n for n in names if n not in shapes]
    if missing:
        raise ValueError(f"names: {missing} were not called in the forward pass")
    return shapes


def shape_text(shape: Any) -> str:
    """``(6, 28, 28)`` -> ``"6x28x28"``; ``(400,)`` -> ``"400"``."""
    dims = _validate.iterable("shape", shape, "a shape such as (6, 28, 28)")
    if not dims:
        raise ValueError("shape must have at least one dimension")
    return "x".join(str(_validate.positive_int("shape entry", d)) for d in dims)


# ---- checking and writing -------------------------------------------------------------------

def _extent(t: Text, renderer: Any) -> Any:
    return t.get_window_extent(renderer)


def layout_problems(fig: Figure, tol: float = 0.5) -> list[str]:
    """What is wrong with a diagram's layout, in words (an empty list if nothing).

    Checks, on the drawn figure: no two pieces of text overlap (by more than ``tol``
    pixels), no free text (a label, a note) lies on a box, every box's text lies inside its
    box, and every box and text lies inside the figure.
    """
    fig = _figure("fig", fig)
    tol = _number("tol", tol)
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    texts = [t for ax in fig.axes for t in ax.texts if t.get_visible() and t.get_text().strip()]
    boxes = [_extent(t, renderer) for t in texts]
    found = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            a, b = boxes[i], boxes[j]
            if (min(a.x1, b.x1) - max(a.x0, b.x0) > tol) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tol):
                found.append(f"text {texts[i].get_text()!r} overlaps {texts[j].get_text()!r}")
    W, H = fig.bbox.width, fig.bbox.height
    for t, e in zip(texts, boxes):
        if e.x0 < -tol or e.y0 < -tol or e.x1 > W + tol or e.y1 > H + tol:
            found.append(f"text {t.get_text()!r} leaves the figure")
    dpi = fig.dpi
    owned = {id(t) for b in getattr(fig, "_cnnlib_boxes", []) for t in b.texts}
    for t, e in zip(texts, boxes):
        if id(t) in owned:
            continue
        for b in getattr(fig, "_cnnlib_boxes", []):
            if (min(e.x1, b.right * dpi) - max(e.x0, b.left * dpi) > tol
                    and min(e.y1, b.top * dpi) - max(e.y0, b.bottom * dpi) > tol):
                found.append(f"text {t.get_text()!r} overlaps the box {b.text.splitlines()[0] if b.text else ''!r}")
    w_in, h_in = fig.get_size_inches()
    for b in getattr(fig, "_cnnlib_boxes", []):
        if b.left < -0.01 or b.bottom < -0.01 or b.right > w_in + 0.01 or b.top > h_in + 0.01:
            found.append(f"the box {b.text.splitlines()[0] if b.text else ''!r} leaves the figure")
        for t in b.texts:
            e = _extent(t, renderer)
            if (e.x0 < b.left * dpi - tol or e.x1 > b.right * dpi + tol
                    or e.y0 < b.bottom * dpi - tol or e.y1 > b.top * dpi + tol):
                found.append(f"text {t.get_text()!r} does not fit its box")
    return found


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG, the same bytes on every run: no date or creator in the metadata,
    element ids from a fixed salt, text as ``<text>`` elements (not glyph paths)."""
    fig = _figure("fig", fig)
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def save_svg(fig: Figure, path: Any) -> Path:
    """Write :func:`svg_bytes` of ``fig`` to ``path`` (a ``str`` or ``Path`` ending in
    ``.svg``) and return the path."""
    fig = _figure("fig", fig)
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    path = Path(path)
    if path.suffix != ".svg":
        raise ValueError(f"path must end in .svg, got {path}")
    path.write_bytes(svg_bytes(fig))
    return path


_SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: Any) -> list[str]:
    """The text of every ``<text>`` element of an SVG, in document order.

    ``svg``: the SVG's bytes, its text (``str`` starting with ``<``) or a path to the file.
    """
    if isinstance(svg, Path) or (isinstance(svg, str) and not svg.lstrip().startswith("<")):
        svg = Path(svg).read_bytes()
    if isinstance(svg, str):
        svg = svg.encode("utf-8")
    if not isinstance(svg, bytes):
        raise TypeError(f"svg must be SVG bytes, SVG text or a path, got {type(svg).__name__}")
    try:
        root = ET.fromstring(re.sub(rb"<!DOCTYPE[^>]*>", b"", svg))
    except ET.ParseError as err:
        raise ValueError(f"svg is not valid XML: {err}") from None
    return ["".join(el.itertext()) for el in root.iter(f"{_SVG_NS}text")]

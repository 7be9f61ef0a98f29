"""Convolution and pooling written as plain loops, to be read.

Every function here computes exactly what ``torch.nn.functional`` computes, one output
element at a time, so that the arithmetic is visible. They are slow: use them on small
arrays, and use :mod:`cnnlib.ops.im2col` (same names, same results) for real sizes.

Each layer is a pair, as in CS231n's ``layers.py``:

- ``*_forward(x, ...) -> (out, cache)`` computes the output and keeps what the
  backward pass needs in ``cache`` (an opaque tuple: only pass it on);
- ``*_backward(dout, cache)`` takes ``dout = dL/dout`` (same shape as ``out``) and
  returns the gradients of the loss with respect to the inputs.

Shapes use PyTorch's names: ``N`` batch size, ``C_in``/``C_out`` channels,
``H``/``W`` height and width, ``kH``/``kW`` kernel size. Output sizes follow the
``nn.Conv2d`` docs::

    H_out = floor((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1

``stride``, ``padding``, ``dilation`` (and ``kernel_size`` for pooling) are an int or a
pair ``(height, width)``.
"""
from __future__ import annotations

import numpy as np

from .._validate import flag
from ._params import (
    ConvGeometry,
    LayerCache,
    check_cache,
    check_conv2d,
    check_conv_transpose2d,
    check_dout,
    check_pool2d,
    check_unpool2d,
    check_unpool2d_backward,
)

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
]


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Pad the last two axes of ``x`` with ``padding = (pH, pW)`` zeros on both sides."""
    p_h, p_w = padding
    return np.pad(x, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)))


def _window(i: int, j: int, geom: ConvGeometry) -> tuple[slice, slice]:
    """Rows and columns of the (padded) input seen by output position ``(i, j)``.

    The window starts at ``(i*stride, j*stride)`` and takes every ``dilation``-th
    pixel, ``kH`` rows and ``kW`` columns in all.
    """
    (k_h, k_w), (s_h, s_w), (d_h, d_w) = geom.kernel, geom.stride, geom.dilation
    rows = slice(i * s_h, i * s_h + d_h * (k_h - 1) + 1, d_h)
    cols = slice(j * s_w, j * s_w + d_w * (k_w - 1) + 1, d_w)
    return rows, cols


# --------------------------------------------------------------------------- conv2d


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> tuple[np.ndarray, tuple]:
    """2-D convolution (cross-correlation, as in ``torch.nn.functional.conv2d``).

    Shapes::

        x: (N, C_in, H, W), w: (C_out, C_in/groups, kH, kW), b: (C_out,) or None
        -> out: (N, C_out, H_out, W_out)
        H_out = floor((H + 2*padding[0] - dilation[0]*(kH-1) - 1) / stride[0]) + 1
        W_out = floor((W + 2*padding[1] - dilation[1]*(kW-1) - 1) / stride[1]) + 1

    ``out[n, co, i, j] = b[co] + sum over (c, u, v) of
    w[co, c, u, v] * x_pad[n, g*C_in/groups + c, i*stride + u*dilation, j*stride + v*dilation]``
    where ``x_pad`` is ``x`` with ``padding`` zeros on each side and ``g`` is the group of
    output channel ``co``. With ``groups > 1`` the channels are split into ``groups``
    independent convolutions.

    Returns ``(out, cache)``; pass ``cache`` to :func:`conv2d_backward`.
    """
    geom = check_conv2d(x, w, b, stride, padding, dilation, groups)
    n_batch, c_in = x.shape[:2]
    c_out = w.shape[0]
    h_out, w_out = geom.out_size
    cin_per_group = c_in // geom.groups
    cout_per_group = c_out // geom.groups

    x_pad = _pad(x, geom.padding)
    out = np.zeros((n_batch, c_out, h_out, w_out), dtype=geom.dtype)
    for n in range(n_batch):  # every image
        for co in range(c_out):  # every filter
            g = co // cout_per_group  # the group this filter belongs to ...
            chans = slice(g * cin_per_group, (g + 1) * cin_per_group)  # ... sees these channels
            for i in range(h_out):  # every output position
                for j in range(w_out):
                    rows, cols = _window(i, j, geom)
                    patch = x_pad[n, chans, rows, cols]  # (C_in/groups, kH, kW)
                    out[n, co, i, j] = np.sum(patch * w[co])  # dot product filter . patch
            if b is not None:
                out[n, co] += b[co]
    return out, LayerCache("loops.conv2d", (x, w, b, geom))


def conv2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward pass of :func:`conv2d_forward`.

    ``dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_out, C_in/groups, kH, kW),
    db: (C_out,)`` (``db`` is None if the forward pass had no bias).

    Each output element was ``sum(patch * w[co])``, so it sends ``dout * w[co]`` back to
    its patch of ``x`` and ``dout * patch`` to ``w[co]``; ``db`` sums ``dout``.
    """
    x, w, b, geom = check_cache(cache, "loops.conv2d")
    n_batch, c_in, h, wd = x.shape
    c_out = w.shape[0]
    h_out, w_out = geom.out_size
    check_dout(dout, (n_batch, c_out, h_out, w_out))
    cin_per_group = c_in // geom.groups
    cout_per_group = c_out // geom.groups
    p_h, p_w = geom.padding

    x_pad = _pad(x, geom.padding)
    dx_pad = np.zeros_like(x_pad, dtype=geom.dtype)
    dw = np.zeros_like(w, dtype=geom.dtype)
    for n in range(n_batch):
        for co in range(c_out):
            g = co // cout_per_group
            chans = slice(g * cin_per_group, (g + 1) * cin_per_group)
            for i in range(h_out):
                for j in range(w_out):
                    rows, cols = _window(i, j, geom)
                    d = dout[n, co, i, j]
                    dx_pad[n, chans, rows, cols] += d * w[co]  # d out / d patch = w[co]
                    dw[co] += d * x_pad[n, chans, rows, cols]  # d out / d w[co] = patch
    dx = dx_pad[:, :, p_h : p_h + h, p_w : p_w + wd]  # the padding gets no gradient
    db = None if b is None else dout.sum(axis=(0, 2, 3)).astype(geom.dtype)
    return dx, dw, db


# --------------------------------------------------------------------------- pooling


def max_pool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    return_indices: bool = False,
) -> tuple[np.ndarray, tuple] | tuple[np.ndarray, np.ndarray, tuple]:
    """Max pooling, as ``torch.nn.functional.max_pool2d``.

    Shapes::

        x: (N, C, H, W) -> out: (N, C, H_out, W_out)
        H_out = floor((H + 2*padding[0] - kH) / stride[0]) + 1

    ``stride`` defaults to ``kernel_size``. The padding is ``-inf`` (it never wins), and
    as in PyTorch ``padding`` may be at most half of ``kernel_size``.

    Returns ``(out, cache)``, or ``(out, indices, cache)`` with ``return_indices=True``:
    ``indices`` (int64, shape of ``out``) holds where each maximum came from as a flat
    index ``row * W + col`` into its (unpadded) ``H x W`` channel, like
    ``F.max_pool2d(..., return_indices=True)``; the first maximum wins ties, and a window
    holding NaN gives NaN with the index of its last NaN (PyTorch's rule). Pass
    ``indices`` to :func:`max_unpool2d`, ``cache`` to :func:`max_pool2d_backward`.
    """
    geom = check_pool2d(x, kernel_size, stride, padding)
    return_indices = flag("return_indices", return_indices)
    n_batch, chans, h, wd = x.shape
    h_out, w_out = geom.out_size
    (k_h, k_w), (s_h, s_w), (p_h, p_w) = geom.kernel, geom.stride, geom.padding

    out = np.zeros((n_batch, chans, h_out, w_out), dtype=x.dtype)
    indices = np.zeros((n_batch, chans, h_out, w_out), dtype=np.int64)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(h_out):
                for j in range(w_out):
                    # The window's top-left corner in x (negative inside the padding).
                    # Padding is -inf and never wins, so only look at the part inside x.
                    top, left = i * s_h - p_h, j * s_w - p_w
                    r0, r1 = max(top, 0), min(top + k_h, h)
                    c0, c1 = max(left, 0), min(left + k_w, wd)
                    window = x[n, c, r0:r1, c0:c1]
                    nan = np.flatnonzero(np.isnan(window))
                    # The first maximum; a NaN beats everything, and the last NaN wins (as in PyTorch).
                    best = nan[-1] if nan.size else np.argmax(window)
                    u, v = np.unravel_index(best, window.shape)
                    out[n, c, i, j] = window[u, v]
                    indices[n, c, i, j] = (r0 + u) * wd + (c0 + v)  # flat index into H x W
    cache = LayerCache("loops.max_pool2d", (x.shape, x.dtype, indices))
    return (out, indices, cache) if return_indices else (out, cache)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`max_pool2d_forward`: ``dout: (N, C, H_out, W_out) -> dx: (N, C, H, W)``.

    Only the maximum of each window affected the output, so each ``dout`` element goes
    to that one input pixel (and adds up where windows overlap).
    """
    x_shape, dtype, indices = check_cache(cache, "loops.max_pool2d")
    check_dout(dout, indices.shape)
    n_batch, chans, h, wd = x_shape
    dx = np.zeros(x_shape, dtype=dtype)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(indices.shape[2]):
                for j in range(indices.shape[3]):
                    row, col = divmod(int(indices[n, c, i, j]), wd)
                    dx[n, c, row, col] += dout[n, c, i, j]
    return dx


def max_unpool2d(
    x: np.ndarray, indices: np.ndarray, output_size: int | tuple[int, ...]
) -> np.ndarray:
    """Partial inverse of max pooling, as ``torch.nn.functional.max_unpool2d``.

    ``x: (N, C, H, W), indices: (N, C, H, W) -> out: (N, C, H_out, W_out)`` with
    ``output_size = (H_out, W_out)`` (usually the shape of the pooled input; a full
    ``(N, C, H_out, W_out)`` is accepted too). Every value ``x[n, c, i, j]`` is written to
    flat position ``indices[n, c, i, j]`` of its ``H_out x W_out`` channel; the rest is 0.
    """
    h_out, w_out = check_unpool2d(x, indices, output_size)
    n_batch, chans, h, wd = x.shape
    out = np.zeros((n_batch, chans, h_out, w_out), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(h):
                for j in range(wd):
                    row, col = divmod(int(indices[n, c, i, j]), w_out)
                    out[n, c, row, col] = x[n, c, i, j]
    return out


def max_unpool2d_backward(dout: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`max_unpool2d`: ``dout: (N, C, H_out, W_out) -> dx: (N, C, H, W)``.

    Each input value was copied to one place, so its gradient is read back from there.
    """
    check_unpool2d_backward(dout, indices)
    n_batch, chans, h, wd = indices.shape
    w_out = dout.shape[3]
    dx = np.zeros(indices.shape, dtype=dout.dtype)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(h):
                for j in range(wd):
                    row, col = divmod(int(indices[n, c, i, j]), w_out)
                    dx[n, c, i, j] = dout[n, c, row, col]
    return dx


def avg_pool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> tuple[np.ndarray, tuple]:
    """Average pooling, as ``torch.nn.functional.avg_pool2d`` (``count_include_pad=True``).

    Shapes::

        x: (N, C, H, W) -> out: (N, C, H_out, W_out)
        H_out = floor((H + 2*padding[0] - kH) / stride[0]) + 1

    ``stride`` defaults to ``kernel_size``. Padding is zeros and counts in the average:
    every window is divided by ``kH * kW``. ``padding`` may be at most half of
    ``kernel_size``. Returns ``(out, cache)``.
    """
    geom = check_pool2d(x, kernel_size, stride, padding)
    n_batch, chans = x.shape[:2]
    h_out, w_out = geom.out_size
    (k_h, k_w), (s_h, s_w) = geom.kernel, geom.stride

    x_pad = _pad(x, geom.padding)
    out = np.zeros((n_batch, chans, h_out, w_out), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(h_out):
                for j in range(w_out):
                    window = x_pad[n, c, i * s_h : i * s_h + k_h, j * s_w : j * s_w + k_w]
                    out[n, c, i, j] = np.sum(window) / (k_h * k_w)
    return out, LayerCache("loops.avg_pool2d", (x.shape, x.dtype, geom))


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`avg_pool2d_forward`: ``dout: (N, C, H_out, W_out) -> dx: (N, C, H, W)``.

    Every pixel of a window counted ``1 / (kH*kW)`` in its average, so it gets that
    share of the window's ``dout``.
    """
    x_shape, dtype, geom = check_cache(cache, "loops.avg_pool2d")
    n_batch, chans, h, wd = x_shape
    h_out, w_out = geom.out_size
    check_dout(dout, (n_batch, chans, h_out, w_out))
    (k_h, k_w), (s_h, s_w), (p_h, p_w) = geom.kernel, geom.stride, geom.padding

    dx_pad = np.zeros((n_batch, chans, h + 2 * p_h, wd + 2 * p_w), dtype=dtype)
    for n in range(n_batch):
        for c in range(chans):
            for i in range(h_out):
                for j in range(w_out):
                    share = dout[n, c, i, j] / (k_h * k_w)
                    dx_pad[n, c, i * s_h : i * s_h + k_h, j * s_w : j * s_w + k_w] += share
    return dx_pad[:, :, p_h : p_h + h, p_w : p_w + wd]


# --------------------------------------------------------------------------- conv_transpose2d


def conv_transpose2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> tuple[np.ndarray, tuple]:
    """Transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Shapes::

        x: (N, C_in, H, W), w: (C_in, C_out/groups, kH, kW), b: (C_out,) or None
        -> out: (N, C_out, H_out, W_out)
        H_out = (H - 1)*stride[0] - 2*padding[0] + dilation[0]*(kH - 1) + output_padding[0] + 1

    Note the argument order: ``dilation`` before ``groups`` (as in ``conv2d_forward``),
    unlike ``F.conv_transpose2d(input, weight, bias, stride, padding, output_padding,
    groups, dilation)``.

    Where a convolution *gathers* a window into one output pixel, the transposed
    convolution *scatters* each input pixel ``x[n, ci, i, j]``, times its filter
    ``w[ci]``, onto the window at ``(i*stride, j*stride)`` of a large output, and then
    crops ``padding`` pixels from each side. ``output_padding`` adds rows/columns at the
    bottom/right of the uncropped output that no input pixel reaches; after the crop, the
    last ``max(output_padding - padding, 0)`` rows/columns of ``out`` hold only the bias
    (and, with a stride larger than the dilated kernel, so do the gaps between windows). It is the backward pass of
    ``conv2d`` with respect to its input, which is why ``w`` is stored (C_in, C_out/groups, ...).

    Returns ``(out, cache)``; pass ``cache`` to :func:`conv_transpose2d_backward`.
    """
    geom = check_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups)
    n_batch, c_in, h, wd = x.shape
    cin_per_group = c_in // geom.groups
    cout_per_group = w.shape[1]
    c_out = cout_per_group * geom.groups
    h_out, w_out = geom.out_size
    p_h, p_w = geom.padding

    # The uncropped output: H_out + 2*padding rows, W_out + 2*padding columns.
    full = np.zeros((n_batch, c_out, h_out + 2 * p_h, w_out + 2 * p_w), dtype=geom.dtype)
    for n in range(n_batch):
        for ci in range(c_in):
            g = ci // cin_per_group  # this input channel feeds these output channels:
            chans = slice(g * cout_per_group, (g + 1) * cout_per_group)
            for i in range(h):  # every input position
                for j in range(wd):
                    rows, cols = _window(i, j, geom)
                    full[n, chans, rows, cols] += x[n, ci, i, j] * w[ci]  # (C_out/groups, kH, kW)
    out = full[:, :, p_h : p_h + h_out, p_w : p_w + w_out].copy()
    if b is not None:
        out += b.reshape(1, c_out, 1, 1)
    return out, LayerCache("loops.conv_transpose2d", (x, w, b, geom))


def conv_transpose2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward pass of :func:`conv_transpose2d_forward`.

    ``dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_in, C_out/groups, kH, kW),
    db: (C_out,)`` (``db`` is None if the forward pass had no bias).

    Input pixel ``x[n, ci, i, j]`` was scattered onto one window of the output, so its
    gradient gathers ``sum(dout_window * w[ci])`` from there: this is an ordinary
    convolution of ``dout`` (the forward pass of ``conv2d`` is the backward pass here).
    """
    x, w, b, geom = check_cache(cache, "loops.conv_transpose2d")
    n_batch, c_in, h, wd = x.shape
    cin_per_group = c_in // geom.groups
    cout_per_group = w.shape[1]
    c_out = cout_per_group * geom.groups
    check_dout(dout, (n_batch, c_out) + geom.out_size)
    p_h, p_w = geom.padding

    # Undo the crop: the cropped-away border did not reach the loss, so its gradient is 0.
    dfull = np.pad(dout, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)))
    dx = np.zeros(x.shape, dtype=geom.dtype)
    dw = np.zeros(w.shape, dtype=geom.dtype)
    for n in range(n_batch):
        for ci in range(c_in):
            g = ci // cin_per_group
            chans = slice(g * cout_per_group, (g + 1) * cout_per_group)
            for i in range(h):
                for j in range(wd):
                    rows, cols = _window(i, j, geom)
                    window = dfull[n, chans, rows, cols]  # (C_out/groups, kH, kW)
                    dx[n, ci, i, j] = np.sum(window * w[ci])
                    dw[ci] += x[n, ci, i, j] * window
    db = None if b is None else dout.sum(axis=(0, 2, 3)).astype(geom.dtype)
    return dx, dw, db

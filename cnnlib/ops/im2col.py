"""Convolution and pooling, vectorized with im2col: fast NumPy, same results as ``loops``.

Same functions, signatures and results as :mod:`cnnlib.ops.loops` (read that module
first); see there for the shapes and formulas. The tricks:

- **im2col.** ``_windows`` is a zero-copy view ``view[c, u, v, i, j, n] =
  x_pad[n, c, i*stride + u*dilation, j*stride + v*dilation]``: every kernel offset
  ``(u, v)`` of every output position ``(i, j)``. Copied into a matrix ``cols`` of shape
  ``(C_in*kH*kW, N*H_out*W_out)`` (one row per filter weight, one column per output
  pixel of the whole batch), a convolution becomes ONE matrix product:
  ``out = w.reshape(C_out, -1) @ cols``.
- **col2im.** The backward pass needs the reverse: add each column entry back onto the
  pixel it came from. ``_col2im_add`` does that with one strided ``+=`` per kernel
  offset (``kH*kW`` in all, not one per pixel), which also sums the overlaps correctly.
- **conv_transpose2d** is col2im of ``w.T @ x``, and its backward pass is im2col.
- **groups** reshape channels to ``(groups, C/groups)`` so that ``np.matmul`` batches
  over the groups.

Arrays keep their dtype: float32 in, float32 out (the result dtype of ``x`` and ``w``).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

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

Pair = tuple[int, int]

# Internally, images are stacked as (A, H, W, B) arrays with the spatial axes in the
# middle: (C, H, W, N) for convolutions ("CHWN": then im2col and col2im copy long
# contiguous runs of W*N numbers, not short rows of W), (N*C, H, W, 1) for pooling.


def _to_chwn(a: np.ndarray, padding: Pair = (0, 0), value: float = 0.0) -> np.ndarray:
    """``(N, C, H, W) -> (C, H + 2*pH, W + 2*pW, N)``: padded with ``value``, batch last (a copy)."""
    n_batch, chans, h, wd = a.shape
    p_h, p_w = padding
    shape = (chans, h + 2 * p_h, wd + 2 * p_w, n_batch)
    out = np.zeros(shape, a.dtype) if value == 0 else np.full(shape, value, a.dtype)
    out[:, p_h : p_h + h, p_w : p_w + wd] = a.transpose(1, 2, 3, 0)
    return out


def _from_chwn(a: np.ndarray, padding: Pair, size: Pair) -> np.ndarray:
    """Inverse of ``_to_chwn``: crop ``padding``, ``(C, H, W, N) -> (N, C, H, W)`` (contiguous)."""
    p_h, p_w = padding
    return np.ascontiguousarray(a[:, p_h : p_h + size[0], p_w : p_w + size[1]].transpose(3, 0, 1, 2))


def _windows(a: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_size: Pair) -> np.ndarray:
    """Read-only view ``(A, kH, kW, H_out, W_out, B)`` of the windows of ``a (A, H, W, B)``.

    ``view[a, u, v, i, j, b] = a[a, i*stride[0] + u*dilation[0], j*stride[1] + v*dilation[1], b]``.
    """
    s_a, s_h, s_w, s_b = a.strides
    return as_strided(
        a,
        shape=(a.shape[0], *kernel, *out_size, a.shape[3]),
        strides=(s_a, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1], s_b),
        writeable=False,
    )


def _col2im_add(dst: np.ndarray, cols: np.ndarray, stride: Pair, dilation: Pair) -> None:
    """Adjoint of ``_windows``: ``dst[a, i*s + u*d, j*s + v*d, b] += cols[a, u, v, i, j, b]``.

    One strided slice per kernel offset ``(u, v)``; overlapping windows add up.
    """
    k_h, k_w, h_out, w_out = cols.shape[1:5]
    (s_h, s_w), (d_h, d_w) = stride, dilation
    for u in range(k_h):
        rows = slice(u * d_h, u * d_h + s_h * (h_out - 1) + 1, s_h)
        for v in range(k_w):
            dst[:, rows, v * d_w : v * d_w + s_w * (w_out - 1) + 1 : s_w] += cols[:, u, v]


def _im2col(a: np.ndarray, geom: ConvGeometry, out_size: Pair) -> np.ndarray:
    """Columns ``(groups, C/groups * kH * kW, H_out * W_out * N)`` of ``a (C, H, W, N)``.

    Row ``(c, u, v)`` holds, for every output position and image, the pixel that kernel
    offset ``(u, v)`` of channel ``c`` sees. The batch is folded into the columns so that
    one matrix product per group covers the whole batch. (A copy.)
    """
    view = _windows(a, geom.kernel, geom.stride, geom.dilation, out_size)  # (C, kH, kW, Ho, Wo, N)
    chans, k_h, k_w, h_out, w_out, n_batch = view.shape
    return view.reshape(geom.groups, chans // geom.groups * k_h * k_w, h_out * w_out * n_batch)


def _col2im(cols: np.ndarray, n_batch: int, geom: ConvGeometry, out_size: Pair, padded: Pair) -> np.ndarray:
    """Adjoint of ``_im2col``: sum the columns back onto a ``(C, *padded, N)`` image stack."""
    chans = cols.shape[0] * cols.shape[1] // (geom.kernel[0] * geom.kernel[1])
    view = cols.reshape(chans, *geom.kernel, *out_size, n_batch)  # (C, kH, kW, Ho, Wo, N)
    dst = np.zeros((view.shape[0], *padded, n_batch), dtype=cols.dtype)
    _col2im_add(dst, view, geom.stride, geom.dilation)
    return dst


def _batch_first(a_t: np.ndarray, n_batch: int, spatial: Pair) -> np.ndarray:
    """``(groups, H*W*N, C/groups) -> (N, C, H, W)``, contiguous: a matrix product's result
    (one row per pixel of the batch, one column per channel) as a batch of images."""
    groups, _, c_per_group = a_t.shape
    a = a_t.reshape(groups, *spatial, n_batch, c_per_group).transpose(3, 0, 4, 1, 2)  # (N, G, C/G, H, W)
    return np.ascontiguousarray(a).reshape(n_batch, groups * c_per_group, *spatial)


# Why the products below are written "transposed", e.g. out.T = cols.T @ w.T instead of
# out = w @ cols: same numbers, but OpenBLAS ran them 1.5-4x faster with the long axis
# (H_out * W_out * N) as the row axis of the result (measured on the benchmark layers).

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
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    ``x: (N, C_in, H, W), w: (C_out, C_in/groups, kH, kW), b: (C_out,) or None
    -> out: (N, C_out, H_out, W_out)`` with
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH-1) - 1) / stride[0]) + 1``.
    Returns ``(out, cache)``; see :func:`cnnlib.ops.loops.conv2d_forward`.
    """
    geom = check_conv2d(x, w, b, stride, padding, dilation, groups)
    x = x.astype(geom.dtype, copy=False)
    n_batch, c_out = x.shape[0], w.shape[0]
    cols = _im2col(_to_chwn(x, geom.padding), geom, geom.out_size)  # (G, C_in/G*kH*kW, L*N)
    w_mat = w.astype(geom.dtype, copy=False).reshape(geom.groups, c_out // geom.groups, -1)
    out_t = np.matmul(cols.swapaxes(1, 2), w_mat.swapaxes(1, 2))  # (G, L*N, C_out/G) = (w @ cols).T
    out = _batch_first(out_t, n_batch, geom.out_size)
    if b is not None:
        out += b.reshape(1, c_out, 1, 1)
    return out, LayerCache("im2col.conv2d", (x.shape, w.shape, w_mat, b is not None, cols, geom))


def conv2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward pass of :func:`conv2d_forward`.

    ``dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_out, C_in/groups, kH, kW),
    db: (C_out,) or None``.
    """
    x_shape, w_shape, w_mat, has_bias, cols, geom = check_cache(cache, "im2col.conv2d")
    n_batch, c_in, h, wd = x_shape
    check_dout(dout, (n_batch, w_shape[0]) + geom.out_size)
    dout = dout.astype(geom.dtype, copy=False)
    d_mat = _to_chwn(dout).reshape(geom.groups, w_shape[0] // geom.groups, -1)  # (G, C_out/G, L*N)

    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    dw_t = np.matmul(cols, d_mat.swapaxes(1, 2))  # (G, C_in/G*kH*kW, C_out/G) = (dout @ cols.T).T
    dw = dw_t.swapaxes(1, 2).reshape(w_shape)
    dcols = np.matmul(w_mat.swapaxes(1, 2), d_mat)  # (G, C_in/G*kH*kW, L*N) = w.T @ dout
    p_h, p_w = geom.padding
    dx_pad = _col2im(dcols, n_batch, geom, geom.out_size, (h + 2 * p_h, wd + 2 * p_w))  # (C_in, ..., N)
    dx = _from_chwn(dx_pad, geom.padding, (h, wd))
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

    ``x: (N, C, H, W) -> out: (N, C, H_out, W_out)``,
    ``H_out = floor((H + 2*padding[0] - kH) / stride[0]) + 1``. Returns ``(out, cache)``,
    or ``(out, indices, cache)`` with ``return_indices=True`` (``indices``: int64 flat
    positions ``row * W + col`` of the maxima, as PyTorch's); see
    :func:`cnnlib.ops.loops.max_pool2d_forward`.
    """
    geom = check_pool2d(x, kernel_size, stride, padding)
    return_indices = flag("return_indices", return_indices)
    n_batch, chans, h, wd = x.shape
    (k_h, k_w), (s_h, s_w), (p_h, p_w) = geom.kernel, geom.stride, geom.padding
    h_out, w_out = geom.out_size

    stack = _to_chwn(x.reshape(1, n_batch * chans, h, wd), geom.padding, -np.inf)  # (N*C, Hp, Wp, 1)
    view = _windows(stack, geom.kernel, geom.stride, (1, 1), geom.out_size)  # (N*C, kH, kW, Ho, Wo, 1)
    flat = view.reshape(n_batch, chans, k_h * k_w, h_out, w_out)  # copy
    k = flat.argmax(axis=2)  # first maximum of each window
    nan = np.isnan(flat)
    if nan.any():  # a NaN beats everything, and the last NaN of a window wins (as in PyTorch)
        last_nan = flat.shape[2] - 1 - nan[:, :, ::-1].argmax(axis=2)
        k = np.where(nan.any(axis=2), last_nan, k)
    k = k[:, :, None]
    out = np.take_along_axis(flat, k, axis=2)[:, :, 0]
    u, v = np.divmod(k[:, :, 0], k_w)
    top = (np.arange(h_out) * s_h - p_h)[:, None]  # window corners (negative in the padding)
    left = np.arange(w_out) * s_w - p_w
    indices = (top + u) * wd + (left + v)
    # A window of only -inf: PyTorch reports its first pixel inside x, not the padding.
    all_inf = out == -np.inf
    if p_h + p_w and all_inf.any():
        first = np.maximum(top, 0) * wd + np.maximum(left, 0)
        indices = np.where(all_inf, first, indices)
    indices = indices.astype(np.int64)
    cache = LayerCache("im2col.max_pool2d", (x.shape, x.dtype, indices))
    return (out, indices, cache) if return_indices else (out, cache)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`max_pool2d_forward`: ``dout (N, C, H_out, W_out) -> dx (N, C, H, W)``."""
    x_shape, dtype, indices = check_cache(cache, "im2col.max_pool2d")
    check_dout(dout, indices.shape)
    n_batch, chans, h, wd = x_shape
    # Scatter-add every dout element onto its maximum (np.bincount sums the overlaps).
    offsets = (np.arange(n_batch * chans) * (h * wd)).reshape(n_batch, chans, 1, 1)
    dx = np.bincount((indices + offsets).ravel(), weights=dout.ravel(), minlength=n_batch * chans * h * wd)
    return dx.reshape(x_shape).astype(dtype, copy=False)


def max_unpool2d(
    x: np.ndarray, indices: np.ndarray, output_size: int | tuple[int, ...]
) -> np.ndarray:
    """Partial inverse of max pooling, as ``torch.nn.functional.max_unpool2d``.

    ``x, indices: (N, C, H, W) -> out: (N, C, H_out, W_out)`` with ``output_size =
    (H_out, W_out)``; see :func:`cnnlib.ops.loops.max_unpool2d`.
    """
    h_out, w_out = check_unpool2d(x, indices, output_size)
    n_batch, chans = x.shape[:2]
    out = np.zeros((n_batch, chans, h_out * w_out), dtype=x.dtype)
    flat = (n_batch, chans, x.shape[2] * x.shape[3])
    np.put_along_axis(out, indices.reshape(flat), x.reshape(flat), axis=2)
    return out.reshape(n_batch, chans, h_out, w_out)


def max_unpool2d_backward(dout: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`max_unpool2d`: ``dout (N, C, H_out, W_out) -> dx (N, C, H, W)``."""
    check_unpool2d_backward(dout, indices)
    n_batch, chans = dout.shape[:2]
    flat_dout = dout.reshape(n_batch, chans, dout.shape[2] * dout.shape[3])
    flat_indices = indices.reshape(n_batch, chans, indices.shape[2] * indices.shape[3])
    dx = np.take_along_axis(flat_dout, flat_indices, axis=2)
    return dx.reshape(indices.shape)


def avg_pool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> tuple[np.ndarray, tuple]:
    """Average pooling, as ``torch.nn.functional.avg_pool2d`` (``count_include_pad=True``).

    ``x: (N, C, H, W) -> out: (N, C, H_out, W_out)``,
    ``H_out = floor((H + 2*padding[0] - kH) / stride[0]) + 1``. Returns ``(out, cache)``.
    """
    geom = check_pool2d(x, kernel_size, stride, padding)
    n_batch, chans, h, wd = x.shape
    stack = _to_chwn(x.reshape(1, n_batch * chans, h, wd), geom.padding)  # (N*C, Hp, Wp, 1)
    view = _windows(stack, geom.kernel, geom.stride, (1, 1), geom.out_size)  # (N*C, kH, kW, Ho, Wo, 1)
    out = np.zeros((n_batch * chans, *geom.out_size), dtype=x.dtype)
    for u in range(geom.kernel[0]):  # add up the kH*kW shifted copies
        for v in range(geom.kernel[1]):
            out += view[:, u, v, :, :, 0]
    out /= geom.kernel[0] * geom.kernel[1]
    out = out.reshape(n_batch, chans, *geom.out_size)
    return out, LayerCache("im2col.avg_pool2d", (x.shape, x.dtype, geom))


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`avg_pool2d_forward`: ``dout (N, C, H_out, W_out) -> dx (N, C, H, W)``."""
    x_shape, dtype, geom = check_cache(cache, "im2col.avg_pool2d")
    n_batch, chans, h, wd = x_shape
    check_dout(dout, (n_batch, chans) + geom.out_size)
    (k_h, k_w), (p_h, p_w) = geom.kernel, geom.padding
    share = (dout / (k_h * k_w)).astype(dtype, copy=False).reshape(-1, 1, 1, *geom.out_size, 1)
    cols = np.broadcast_to(share, (n_batch * chans, k_h, k_w, *geom.out_size, 1))
    dx_pad = np.zeros((n_batch * chans, h + 2 * p_h, wd + 2 * p_w, 1), dtype=dtype)
    _col2im_add(dx_pad, cols, geom.stride, (1, 1))
    return _from_chwn(dx_pad, geom.padding, (h, wd)).reshape(x_shape)


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

    ``x: (N, C_in, H, W), w: (C_in, C_out/groups, kH, kW), b: (C_out,) or None
    -> out: (N, C_out, H_out, W_out)`` with
    ``H_out = (H-1)*stride[0] - 2*padding[0] + dilation[0]*(kH-1) + output_padding[0] + 1``.
    Note: ``dilation`` comes before ``groups``, unlike in ``F.conv_transpose2d``.
    Returns ``(out, cache)``; see :func:`cnnlib.ops.loops.conv_transpose2d_forward`.

    This is col2im of ``w.T @ x``: the backward pass of ``conv2d`` with respect to its input.
    """
    geom = check_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups)
    n_batch, c_in, h, wd = x.shape
    g = geom.groups
    c_out = w.shape[1] * g
    x_mat = _to_chwn(x.astype(geom.dtype, copy=False)).reshape(g, c_in // g, -1)  # (G, C_in/G, H*W*N)
    w_mat = w.astype(geom.dtype, copy=False).reshape(g, c_in // g, -1)  # (G, C_in/G, C_out/G*kH*kW)
    cols = np.matmul(w_mat.swapaxes(1, 2), x_mat)  # (G, C_out/G*kH*kW, H*W*N)
    p_h, p_w = geom.padding
    h_out, w_out = geom.out_size
    full = _col2im(cols, n_batch, geom, (h, wd), (h_out + 2 * p_h, w_out + 2 * p_w))  # (C_out, ..., N)
    out = _from_chwn(full, geom.padding, geom.out_size)
    if b is not None:
        out += b.reshape(1, c_out, 1, 1)
    return out, LayerCache("im2col.conv_transpose2d", (x.shape, w.shape, x_mat, w_mat, b is not None, geom))


def conv_transpose2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward pass of :func:`conv_transpose2d_forward`.

    ``dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_in, C_out/groups, kH, kW),
    db: (C_out,) or None``. ``dx`` is an ordinary convolution of ``dout`` with ``w``.
    """
    x_shape, w_shape, x_mat, w_mat, has_bias, geom = check_cache(cache, "im2col.conv_transpose2d")
    n_batch, c_in, h, wd = x_shape
    c_out = w_shape[1] * geom.groups
    check_dout(dout, (n_batch, c_out) + geom.out_size)
    dout = dout.astype(geom.dtype, copy=False)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    # Undo the crop with zeros, then take exactly one window per input pixel.
    cols = _im2col(_to_chwn(dout, geom.padding), geom, (h, wd))  # (G, C_out/G*kH*kW, H*W*N)
    dx_t = np.matmul(cols.swapaxes(1, 2), w_mat.swapaxes(1, 2))  # (G, H*W*N, C_in/G) = (w @ cols).T
    dx = _batch_first(dx_t, n_batch, (h, wd))
    dw_t = np.matmul(cols, x_mat.swapaxes(1, 2))  # (G, C_out/G*kH*kW, C_in/G) = (x @ cols.T).T
    dw = dw_t.swapaxes(1, 2).reshape(w_shape)
    return dx, dw, db

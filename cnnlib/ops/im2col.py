"""Convolution and pooling, vectorized with im2col: fast NumPy, same results as ``loops``.

Same functions, signatures and results as :mod:`cnnlib.ops.loops` (read that module
first); see there for the shapes and formulas. The tricks:

- **im2col.** ``_windows`` is a zero-copy view ``cols[n, c, u, v, i, j] =
  x_pad[n, c, i*stride + u*dilation, j*stride + v*dilation]``: every kernel offset
  ``(u, v)`` of every output position ``(i, j)``. Reshaped to
  ``(N, C_in*kH*kW, H_out*W_out)`` (one copy), a convolution becomes one matrix product
  per image: ``out[n] = w.reshape(C_out, -1) @ cols[n]``.
- **col2im.** The backward pass needs the reverse: add each column back onto the pixel
  it came from. ``_col2im_add`` does that with one strided ``+=`` per kernel offset
  (``kH*kW`` in all, not one per pixel), which also sums the overlaps correctly.
- **groups** reshape channels to ``(groups, C/groups)`` so that ``np.matmul`` batches
  over the groups.

Arrays keep their dtype: float32 in, float32 out (the result dtype of ``x`` and ``w``).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._params import (
    ConvGeometry,
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


def _pad(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes by ``padding`` on both sides (no copy when it is zero)."""
    p_h, p_w = padding
    if p_h == 0 and p_w == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)), constant_values=value)


def _crop(x: np.ndarray, padding: Pair, size: Pair) -> np.ndarray:
    """Inverse of ``_pad``: the ``size`` pixels after ``padding`` in the last two axes."""
    p_h, p_w = padding
    return x[:, :, p_h : p_h + size[0], p_w : p_w + size[1]]


def _windows(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_size: Pair) -> np.ndarray:
    """Read-only view ``(N, C, kH, kW, H_out, W_out)`` of the windows of ``x (N, C, H, W)``.

    ``view[n, c, u, v, i, j] = x[n, c, i*stride[0] + u*dilation[0], j*stride[1] + v*dilation[1]]``.
    """
    s_n, s_c, s_h, s_w = x.strides
    return as_strided(
        x,
        shape=x.shape[:2] + tuple(kernel) + tuple(out_size),
        strides=(s_n, s_c, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1]),
        writeable=False,
    )


def _col2im_add(dst: np.ndarray, cols: np.ndarray, stride: Pair, dilation: Pair) -> None:
    """Adjoint of ``_windows``: ``dst[n, c, i*s + u*d, j*s + v*d] += cols[n, c, u, v, i, j]``.

    One strided slice per kernel offset ``(u, v)``; overlapping windows add up.
    """
    k_h, k_w, h_out, w_out = cols.shape[2:]
    (s_h, s_w), (d_h, d_w) = stride, dilation
    for u in range(k_h):
        rows = slice(u * d_h, u * d_h + s_h * (h_out - 1) + 1, s_h)
        for v in range(k_w):
            dst[:, :, rows, v * d_w : v * d_w + s_w * (w_out - 1) + 1 : s_w] += cols[:, :, u, v]


def _im2col(x_pad: np.ndarray, geom: ConvGeometry, out_size: Pair) -> np.ndarray:
    """Columns ``(groups, C/groups * kH * kW, N * H_out * W_out)`` of ``x_pad (N, C, H, W)``.

    Row ``(c, u, v)`` holds, for every image and output position, the pixel that kernel
    offset ``(u, v)`` of channel ``c`` sees. The batch is folded into the columns so that
    one matrix product per group covers the whole batch. (A copy.)
    """
    n_batch, chans = x_pad.shape[:2]
    view = _windows(x_pad, geom.kernel, geom.stride, geom.dilation, out_size)  # (N, C, kH, kW, Ho, Wo)
    view = view.transpose(1, 2, 3, 0, 4, 5)  # (C, kH, kW, N, Ho, Wo)
    return view.reshape(geom.groups, -1, n_batch * out_size[0] * out_size[1])


def _col2im(cols: np.ndarray, n_batch: int, geom: ConvGeometry, out_size: Pair, padded: Pair) -> np.ndarray:
    """Adjoint of ``_im2col``: sum the columns back onto an ``(N, C, *padded)`` image.

    Returns the sum laid out ``(C, N, *padded)`` (transpose it to get ``(N, C, ...)``).
    """
    k_h, k_w = geom.kernel
    view = cols.reshape(-1, k_h, k_w, n_batch, *out_size).transpose(0, 3, 1, 2, 4, 5)
    dst = np.zeros(view.shape[:2] + tuple(padded), dtype=cols.dtype)
    _col2im_add(dst, view, geom.stride, geom.dilation)
    return dst


def _channels_first(a: np.ndarray, groups: int) -> np.ndarray:
    """``(N, C, H, W) -> (groups, C/groups, N*H*W)``: channels as rows, batch folded in (a copy)."""
    n_batch, chans = a.shape[:2]
    return a.reshape(n_batch, groups, chans // groups, -1).transpose(1, 2, 0, 3).reshape(groups, chans // groups, -1)


def _batch_first(a_t: np.ndarray, n_batch: int, spatial: Pair) -> np.ndarray:
    """``(groups, N*H*W, C/groups) -> (N, C, H, W)``, contiguous (inverse layout of ``_channels_first``)."""
    groups, _, c_per_group = a_t.shape
    a = a_t.reshape(groups, n_batch, -1, c_per_group).transpose(1, 0, 3, 2)  # (N, G, C/G, H*W)
    return np.ascontiguousarray(a).reshape(n_batch, groups * c_per_group, *spatial)


# Why the products below are written "transposed", e.g. out.T = cols.T @ w.T instead of
# out = w @ cols: same numbers, but OpenBLAS ran them 2-4x faster with the long axis
# (N * H_out * W_out) as the row axis of the result (measured on the VGG-sized layer).

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
    cols = _im2col(_pad(x, geom.padding), geom, geom.out_size)  # (G, C_in/G*kH*kW, N*L)
    w_mat = w.astype(geom.dtype, copy=False).reshape(geom.groups, c_out // geom.groups, -1)
    out_t = np.matmul(cols.swapaxes(1, 2), w_mat.swapaxes(1, 2))  # (G, N*L, C_out/G) = (w @ cols).T
    out = _batch_first(out_t, n_batch, geom.out_size)
    if b is not None:
        out += b.reshape(1, c_out, 1, 1)
    return out, (x.shape, w.shape, w_mat, b is not None, cols, geom)


def conv2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward pass of :func:`conv2d_forward`.

    ``dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_out, C_in/groups, kH, kW),
    db: (C_out,) or None``.
    """
    x_shape, w_shape, w_mat, has_bias, cols, geom = cache
    n_batch, c_in, h, wd = x_shape
    check_dout(dout, (n_batch, w_shape[0]) + geom.out_size)
    dout = dout.astype(geom.dtype, copy=False)
    d_mat = _channels_first(dout, geom.groups)  # (G, C_out/G, N*L)

    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    dw_t = np.matmul(cols, d_mat.swapaxes(1, 2))  # (G, C_in/G*kH*kW, C_out/G) = (dout @ cols.T).T
    dw = dw_t.swapaxes(1, 2).reshape(w_shape)
    dcols = np.matmul(w_mat.swapaxes(1, 2), d_mat)  # (G, C_in/G*kH*kW, N*L) = w.T @ dout
    p_h, p_w = geom.padding
    dx_pad = _col2im(dcols, n_batch, geom, geom.out_size, (h + 2 * p_h, wd + 2 * p_w))  # (C_in, N, ...)
    dx = np.ascontiguousarray(_crop(dx_pad, geom.padding, (h, wd)).transpose(1, 0, 2, 3))
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
    n_batch, chans, h, wd = x.shape
    (k_h, k_w), (s_h, s_w), (p_h, p_w) = geom.kernel, geom.stride, geom.padding
    h_out, w_out = geom.out_size

    view = _windows(_pad(x, geom.padding, -np.inf), geom.kernel, geom.stride, (1, 1), geom.out_size)
    flat = view.reshape(n_batch, chans, k_h * k_w, h_out, w_out)  # copy
    k = flat.argmax(axis=2)[:, :, None]  # first maximum of each window
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
    cache = (x.shape, x.dtype, indices)
    return (out, indices, cache) if return_indices else (out, cache)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`max_pool2d_forward`: ``dout (N, C, H_out, W_out) -> dx (N, C, H, W)``."""
    x_shape, dtype, indices = cache
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
    np.put_along_axis(out, indices.reshape(n_batch, chans, -1), x.reshape(n_batch, chans, -1), axis=2)
    return out.reshape(n_batch, chans, h_out, w_out)


def max_unpool2d_backward(dout: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`max_unpool2d`: ``dout (N, C, H_out, W_out) -> dx (N, C, H, W)``."""
    check_unpool2d_backward(dout, indices)
    n_batch, chans = dout.shape[:2]
    dx = np.take_along_axis(dout.reshape(n_batch, chans, -1), indices.reshape(n_batch, chans, -1), axis=2)
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
    view = _windows(_pad(x, geom.padding), geom.kernel, geom.stride, (1, 1), geom.out_size)
    out = np.zeros(x.shape[:2] + geom.out_size, dtype=x.dtype)
    for u in range(geom.kernel[0]):  # add up the kH*kW shifted copies
        for v in range(geom.kernel[1]):
            out += view[:, :, u, v]
    out /= geom.kernel[0] * geom.kernel[1]
    return out, (x.shape, x.dtype, geom)


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`avg_pool2d_forward`: ``dout (N, C, H_out, W_out) -> dx (N, C, H, W)``."""
    x_shape, dtype, geom = cache
    n_batch, chans, h, wd = x_shape
    check_dout(dout, (n_batch, chans) + geom.out_size)
    (k_h, k_w), (p_h, p_w) = geom.kernel, geom.padding
    share = (dout / (k_h * k_w)).astype(dtype, copy=False)
    cols = np.broadcast_to(share[:, :, None, None], (n_batch, chans, k_h, k_w) + geom.out_size)
    dx_pad = np.zeros((n_batch, chans, h + 2 * p_h, wd + 2 * p_w), dtype=dtype)
    _col2im_add(dx_pad, cols, geom.stride, (1, 1))
    return _crop(dx_pad, geom.padding, (h, wd))


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
    x_mat = _channels_first(x.astype(geom.dtype, copy=False), g)  # (G, C_in/G, N*H*W)
    w_mat = w.astype(geom.dtype, copy=False).reshape(g, c_in // g, -1)  # (G, C_in/G, C_out/G*kH*kW)
    cols = np.matmul(w_mat.swapaxes(1, 2), x_mat)  # (G, C_out/G*kH*kW, N*H*W)
    p_h, p_w = geom.padding
    h_out, w_out = geom.out_size
    full = _col2im(cols, n_batch, geom, (h, wd), (h_out + 2 * p_h, w_out + 2 * p_w))  # (C_out, N, ...)
    out = np.ascontiguousarray(_crop(full, geom.padding, geom.out_size).transpose(1, 0, 2, 3))
    if b is not None:
        out += b.reshape(1, c_out, 1, 1)
    return out, (x.shape, w.shape, x_mat, w_mat, b is not None, geom)


def conv_transpose2d_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward pass of :func:`conv_transpose2d_forward`.

    ``dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_in, C_out/groups, kH, kW),
    db: (C_out,) or None``. ``dx`` is an ordinary convolution of ``dout`` with ``w``.
    """
    x_shape, w_shape, x_mat, w_mat, has_bias, geom = cache
    n_batch, c_in, h, wd = x_shape
    c_out = w_shape[1] * geom.groups
    check_dout(dout, (n_batch, c_out) + geom.out_size)
    dout = dout.astype(geom.dtype, copy=False)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    # Undo the crop with zeros, then take exactly one window per input pixel.
    cols = _im2col(_pad(dout, geom.padding), geom, (h, wd))  # (G, C_out/G*kH*kW, N*H*W)
    dx_t = np.matmul(cols.swapaxes(1, 2), w_mat.swapaxes(1, 2))  # (G, N*H*W, C_in/G) = (w @ cols).T
    dx = _batch_first(dx_t, n_batch, (h, wd))
    dw_t = np.matmul(cols, x_mat.swapaxes(1, 2))  # (G, C_out/G*kH*kW, C_in/G) = (x @ cols.T).T
    dw = dw_t.swapaxes(1, 2).reshape(w_shape)
    return dx, dw, db

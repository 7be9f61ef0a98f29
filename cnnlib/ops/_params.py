"""Argument checks and output-size arithmetic shared by ``loops`` and ``im2col``.

Both implementations call the same checks, so they accept and reject exactly the same
arguments with exactly the same messages. Each ``check_*`` function returns the
validated settings as a small named tuple of ``(height, width)`` pairs.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._validate import array, nonneg_int, pair, positive_int

Pair = tuple[int, int]


class ConvGeometry(NamedTuple):
    """Validated settings of a (transposed) convolution."""

    kernel: Pair  # (kH, kW)
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int
    output_padding: Pair  # (0, 0) for conv2d
    out_size: Pair  # (H_out, W_out)
    dtype: np.dtype  # result dtype of x and w


class LayerCache(tuple):
    """What a ``*_forward`` keeps for its ``*_backward``: a tuple that also knows which
    forward function made it (``layer``, e.g. ``"im2col.conv2d"``), so that a backward
    pass handed ``None`` or another layer's cache fails with a clear message."""

    layer: str

    def __new__(cls, layer: str, items: tuple) -> "LayerCache":
        obj = super().__new__(cls, items)
        obj.layer = layer
        return obj


def check_cache(cache: Any, layer: str) -> LayerCache:
    """Check that ``cache`` is what ``<layer>_forward`` returned (``layer`` as
    ``"module.name"``, e.g. ``"loops.max_pool2d"``)."""
    module, name = layer.split(".")
    made_by = f"{module}.{name}_forward"
    if not isinstance(cache, LayerCache):
        raise TypeError(f"cache must be the cache returned by {made_by}, got {type(cache).__name__}")
    if cache.layer != layer:
        raise ValueError(f"cache was returned by {cache.layer}_forward, but {name}_backward "
                         f"needs the cache of {made_by}")
    return cache


class PoolGeometry(NamedTuple):
    """Validated settings of a pooling layer."""

    kernel: Pair  # (kH, kW)
    stride: Pair
    padding: Pair
    out_size: Pair  # (H_out, W_out)


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """``floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1`` (nn.Conv2d docs)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_out_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, output_padding: int
) -> int:
    """``(size-1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1``."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _fmt(p: Pair) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p}"


def _check_fits(kernel: Pair, dilation: Pair, padding: Pair, hw: tuple[int, int]) -> None:
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(s + 2 * p for s, p in zip(hw, padding))
    if eff[0] > padded[0] or eff[1] > padded[1]:
        how = f" (effective {eff[0]}x{eff[1]} with dilation {_fmt(dilation)})" if dilation != (1, 1) else ""
        raise ValueError(
            f"kernel_size {kernel[0]}x{kernel[1]}{how} is larger than the padded input "
            f"{padded[0]}x{padded[1]} (input {hw[0]}x{hw[1]}, padding {_fmt(padding)})"
        )


def _check_bias(b: Any, c_out: int) -> None:
    if b is None:
        return
    array("b", b, 1, "(C_out,)")
    if b.shape != (c_out,):
        raise ValueError(f"b must have shape (C_out,) = ({c_out},), got {b.shape}")


def check_conv2d(
    x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any, groups: Any
) -> ConvGeometry:
    """Validate the arguments of ``conv2d_forward``; return the settings and output size."""
    array("x", x, 4, "(N, C_in, H, W)")
    array("w", w, 4, "(C_out, C_in/groups, kH, kW)")
    stride = pair("stride", stride)
    padding = pair("padding", padding, nonneg_int)
    dilation = pair("dilation", dilation)
    groups = positive_int("groups", groups)
    _, c_in, h, wd = x.shape
    c_out, c_per_group, kh, kw = w.shape
    if c_in % groups:
        raise ValueError(f"in_channels (C_in={c_in}) must be divisible by groups={groups}")
    if c_out % groups:
        raise ValueError(f"out_channels (w.shape[0]={c_out}) must be divisible by groups={groups}")
    if c_per_group != c_in // groups:
        raise ValueError(
            f"w.shape[1] must equal C_in/groups = {c_in}/{groups} = {c_in // groups}, "
            f"got w of shape {w.shape}"
        )
    if kh < 1 or kw < 1 or c_out < 1:
        raise ValueError(f"w must have C_out, kH, kW >= 1, got shape {w.shape}")
    _check_bias(b, c_out)
    _check_fits((kh, kw), dilation, padding, (h, wd))
    out = (
        conv_out_size(h, kh, stride[0], padding[0], dilation[0]),
        conv_out_size(wd, kw, stride[1], padding[1], dilation[1]),
    )
    dtype = np.result_type(x.dtype, w.dtype)
    return ConvGeometry((kh, kw), stride, padding, dilation, groups, (0, 0), out, dtype)


def check_conv_transpose2d(
    x: Any, w: Any, b: Any, stride: Any, padding: Any, output_padding: Any, dilation: Any, groups: Any
) -> ConvGeometry:
    """Validate the arguments of ``conv_transpose2d_forward``; return settings and output size."""
    array("x", x, 4, "(N, C_in, H, W)")
    array("w", w, 4, "(C_in, C_out/groups, kH, kW)")
    stride = pair("stride", stride)
    padding = pair("padding", padding, nonneg_int)
    output_padding = pair("output_padding", output_padding, nonneg_int)
    dilation = pair("dilation", dilation)
    groups = positive_int("groups", groups)
    _, c_in, h, wd = x.shape
    if c_in % groups:
        raise ValueError(f"in_channels (C_in={c_in}) must be divisible by groups={groups}")
    if w.shape[0] != c_in:
        raise ValueError(f"w.shape[0] must equal C_in = {c_in}, got w of shape {w.shape}")
    _, c_out_per_group, kh, kw = w.shape
    if kh < 1 or kw < 1 or c_out_per_group < 1:
        raise ValueError(f"w must have C_out/groups, kH, kW >= 1, got shape {w.shape}")
    for i in range(2):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ValueError(
                f"output_padding must be smaller than stride or dilation, got "
                f"output_padding={_fmt(output_padding)}, stride={_fmt(stride)}, dilation={_fmt(dilation)}"
            )
    _check_bias(b, c_out_per_group * groups)
    out = (
        conv_transpose_out_size(h, kh, stride[0], padding[0], dilation[0], output_padding[0]),
        conv_transpose_out_size(wd, kw, stride[1], padding[1], dilation[1], output_padding[1]),
    )
    if out[0] < 1 or out[1] < 1:
        raise ValueError(
            f"padding={_fmt(padding)} is too large: the output size "
            "(H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1 "
            f"would be {out[0]}x{out[1]}"
        )
    dtype = np.result_type(x.dtype, w.dtype)
    return ConvGeometry((kh, kw), stride, padding, dilation, groups, output_padding, out, dtype)


def check_pool2d(x: Any, kernel_size: Any, stride: Any, padding: Any) -> PoolGeometry:
    """Validate the arguments of ``max_pool2d_forward`` / ``avg_pool2d_forward``."""
    array("x", x, 4, "(N, C, H, W)")
    kernel = pair("kernel_size", kernel_size)
    stride = kernel if stride is None else pair("stride", stride)
    padding = pair("padding", padding, nonneg_int)
    for i in range(2):
        if 2 * padding[i] > kernel[i]:
            raise ValueError(
                f"padding must be at most half of kernel_size, got padding={_fmt(padding)} "
                f"and kernel_size={_fmt(kernel)}"
            )
    h, wd = x.shape[2:]
    _check_fits(kernel, (1, 1), padding, (h, wd))
    out = (
        conv_out_size(h, kernel[0], stride[0], padding[0], 1),
        conv_out_size(wd, kernel[1], stride[1], padding[1], 1),
    )
    return PoolGeometry(kernel, stride, padding, out)


def _check_indices(indices: Any, nc: tuple[int, ...], size: tuple[int, int]) -> None:
    if not isinstance(indices, np.ndarray) or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(
            "indices must be an integer NumPy array (as returned by max_pool2d_forward), "
            f"got {type(indices).__name__}"
        )
    if indices.ndim != 4 or indices.shape[:2] != nc:
        raise ValueError(f"indices must have shape ({nc[0]}, {nc[1]}, H, W), got {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= size[0] * size[1]):
        raise ValueError(
            f"indices must lie in [0, H_out*W_out) = [0, {size[0] * size[1]}) for "
            f"output_size={size}, got values in [{indices.min()}, {indices.max()}]"
        )


def check_unpool2d(x: Any, indices: Any, output_size: Any) -> tuple[int, int]:
    """Validate the arguments of ``max_unpool2d``; return ``(H_out, W_out)``."""
    array("x", x, 4, "(N, C, H, W)")
    if isinstance(output_size, (tuple, list)) and len(output_size) == 4:
        output_size = tuple(output_size)[2:]  # accept (N, C, H_out, W_out) like PyTorch
    size = pair("output_size", output_size)
    _check_indices(indices, x.shape[:2], size)
    if indices.shape != x.shape:
        raise ValueError(f"indices must have the shape of x {x.shape}, got {indices.shape}")
    return size


def check_unpool2d_backward(dout: Any, indices: Any) -> None:
    """Validate the arguments of ``max_unpool2d_backward``."""
    array("dout", dout, 4, "(N, C, H_out, W_out)")
    _check_indices(indices, dout.shape[:2], dout.shape[2:])


def check_dout(dout: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Check that the upstream gradient has the shape of the forward output."""
    array("dout", dout, len(shape), "(same shape as the forward output)")
    if dout.shape != tuple(shape):
        raise ValueError(f"dout must have the shape of the forward output {tuple(shape)}, got {dout.shape}")
    return dout

"""NumPy reference implementations of the layers of a CNN, forward and backward.

Two implementations with the same functions and the same results:

- :mod:`cnnlib.ops.loops`: plain for-loops, written to be read;
- :mod:`cnnlib.ops.im2col`: vectorized (im2col + matrix products), fast enough to train with.

Each layer is a ``*_forward(...) -> (out, cache)`` / ``*_backward(dout, cache)`` pair as in
CS231n (``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``conv_transpose2d``, plus
``max_unpool2d``). :mod:`cnnlib.ops.signal` contrasts convolution with cross-correlation.

The functions below are forward-only shortcuts (using ``im2col``) that mirror
``torch.nn.functional``::

    >>> import numpy as np
    >>> from cnnlib import ops
    >>> x = np.random.rand(1, 3, 8, 8).astype(np.float32)
    >>> w = np.random.rand(4, 3, 3, 3).astype(np.float32)
    >>> ops.conv2d(x, w, padding=1).shape
    (1, 4, 8, 8)
"""
from __future__ import annotations

import numpy as np

from .._validate import flag
from . import im2col, loops, signal
from .signal import convolve2d, correlate2d

__all__ = [
    "loops",
    "im2col",
    "signal",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "conv_transpose2d",
    "max_unpool2d",
    "convolve2d",
    "correlate2d",
]

IntOrPair = int | tuple[int, int]


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """``x: (N, C_in, H, W), w: (C_out, C_in/groups, kH, kW) -> (N, C_out, H_out, W_out)``,
    as ``F.conv2d``; see :func:`cnnlib.ops.loops.conv2d_forward`."""
    return im2col.conv2d_forward(x, w, b, stride, padding, dilation, groups)[0]


def max_pool2d(
    x: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``x: (N, C, H, W) -> (N, C, H_out, W_out)`` (and the int64 ``indices`` of the maxima
    with ``return_indices=True``), as ``F.max_pool2d``; see :func:`cnnlib.ops.loops.max_pool2d_forward`."""
    return_indices = flag("return_indices", return_indices)
    out, indices, _ = im2col.max_pool2d_forward(x, kernel_size, stride, padding, return_indices=True)
    return (out, indices) if return_indices else out


def max_unpool2d(x: np.ndarray, indices: np.ndarray, output_size: IntOrPair) -> np.ndarray:
    """``x, indices: (N, C, H, W) -> (N, C, H_out, W_out)``, as ``F.max_unpool2d``;
    see :func:`cnnlib.ops.loops.max_unpool2d`."""
    return im2col.max_unpool2d(x, indices, output_size)


def avg_pool2d(
    x: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> np.ndarray:
    """``x: (N, C, H, W) -> (N, C, H_out, W_out)``, as ``F.avg_pool2d``;
    see :func:`cnnlib.ops.loops.avg_pool2d_forward`."""
    return im2col.avg_pool2d_forward(x, kernel_size, stride, padding)[0]


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """``x: (N, C_in, H, W), w: (C_in, C_out/groups, kH, kW) -> (N, C_out, H_out, W_out)``,
    as ``F.conv_transpose2d`` (but ``dilation`` before ``groups``);
    see :func:`cnnlib.ops.loops.conv_transpose2d_forward`."""
    return im2col.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups)[0]

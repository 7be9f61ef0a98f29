"""Output sizes of convolution, pooling and transposed convolution, and "same" padding.

Every function takes sizes either as an ``int`` (square input, square kernel) or as a
pair ``(height, width)``. The result has the same kind: if every size-like argument is
an ``int`` you get an ``int`` back, if any of them is a pair you get an
``(height, width)`` tuple back.

The formulas are the ones in PyTorch's documentation of ``nn.Conv2d``,
``nn.MaxPool2d`` and ``nn.ConvTranspose2d``, and the tests check them against those
layers over thousands of configurations.
"""
from __future__ import annotations

from typing import Union

from .. import _validate

#: An ``int`` (same value for height and width) or a pair ``(height, width)``.
Size = Union[int, tuple[int, int]]


def _as_pairs(**named: tuple) -> tuple[dict[str, tuple[int, int]], bool]:
    """Check each ``name=(value, check)``; return the pairs and whether any was a pair."""
    pairs = {}
    any_pair = False
    for name, (value, check) in named.items():
        any_pair = any_pair or isinstance(value, (tuple, list))
        pairs[name] = _validate.pair(name, value, check)
    return pairs, any_pair


def _result(h: int, w: int, as_pair: bool) -> Size:
    return (h, w) if as_pair else h


def _effective_kernel(kernel_size: int, dilation: int) -> int:
    # A dilated kernel of k taps spans dilation*(k-1)+1 input pixels.
    return dilation * (kernel_size - 1) + 1


def conv2d_output_size(
    size: Size,
    kernel_size: Size,
    stride: Size = 1,
    padding: Union[Size, str] = 0,
    dilation: Size = 1,
) -> Size:
    """Spatial output size of ``nn.Conv2d`` (the same formula holds for each axis)::

        H_out = floor((H_in + 2*padding - dilation*(kernel_size-1) - 1)/stride + 1)

    ``dilation*(kernel_size-1) + 1`` is the *effective* kernel size: the number of input
    pixels one dilated kernel spans. ``padding`` may also be ``"valid"`` (no padding)
    or ``"same"`` (output size = input size; stride must be 1), as in ``nn.Conv2d``.

    >>> conv2d_output_size(32, 5)                     # 32x32 image, 5x5 filter
    28
    >>> conv2d_output_size((224, 224), 11, stride=4, padding=2)
    (55, 55)

    Raises ``ValueError`` naming ``kernel_size`` when the effective kernel is larger than
    the padded input (there would be no position to put it).
    """
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            p, any_pair = _as_pairs(size=(size, _validate.positive_int),
                                    kernel_size=(kernel_size, _validate.positive_int),
                                    stride=(stride, _validate.positive_int),
                                    dilation=(dilation, _validate.positive_int))
            if p["stride"] != (1, 1):
                raise ValueError(f"padding='same' needs stride=1 (as in nn.Conv2d), got stride={stride}")
            return _result(*p["size"], any_pair)
        else:
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    p, any_pair = _as_pairs(size=(size, _validate.positive_int),
                            kernel_size=(kernel_size, _validate.positive_int),
                            stride=(stride, _validate.positive_int),
                            padding=(padding, _validate.nonneg_int),
                            dilation=(dilation, _validate.positive_int))
    out = []
    for axis in range(2):
        n, k, s, pad, d = (p[name][axis] for name in ("size", "kernel_size", "stride", "padding", "dilation"))
        k_eff = _effective_kernel(k, d)
        if k_eff > n + 2 * pad:
            raise ValueError(
                f"kernel_size {k} (dilation {d}: it spans {k_eff} pixels) is larger than the "
                f"padded input ({n} + 2*{pad} = {n + 2 * pad} pixels)")
        out.append((n + 2 * pad - k_eff) // s + 1)
    return _result(*out, any_pair)


def pool2d_output_size(
    size: Size,
    kernel_size: Size,
    stride: Size | None = None,
    padding: Size = 0,
    dilation: Size = 1,
    ceil_mode: bool = False,
) -> Size:
    """Spatial output size of ``nn.MaxPool2d`` (and ``nn.AvgPool2d``, which has no dilation)::

        H_out = floor((H_in + 2*padding - dilation*(kernel_size-1) - 1)/stride + 1)

    with ``ceil`` instead of ``floor`` when ``ceil_mode=True``. ``stride`` defaults to
    ``kernel_size`` (non-overlapping windows), as in PyTorch.

    PyTorch's two extra rules are applied too:

    - with ``ceil_mode=True`` the last window must *start* inside the input or the left
      padding; if it would start in the right padding it is dropped, i.e. ``H_out`` is
      reduced by one when ``(H_out-1)*stride >= H_in + padding``;
    - ``padding`` must be at most half the kernel: ``padding <= kernel_size // 2``
      (``ValueError`` naming ``padding`` otherwise).

    >>> pool2d_output_size(55, 3, stride=2)           # AlexNet's first max-pool
    27
    >>> pool2d_output_size(112, 3, stride=2, ceil_mode=True)
    56

    Raises ``ValueError`` naming ``kernel_size`` when no window fits (output size < 1).
    """
    ceil_mode = _validate.flag("ceil_mode", ceil_mode)  # as nn.MaxPool2d: bools, 0 and 1
    if stride is None:
        stride = kernel_size
    p, any_pair = _as_pairs(size=(size, _validate.positive_int),
                            kernel_size=(kernel_size, _validate.positive_int),
                            stride=(stride, _validate.positive_int),
                            padding=(padding, _validate.nonneg_int),
                            dilation=(dilation, _validate.positive_int))
    for k, pad in zip(p["kernel_size"], p["padding"]):
        if pad > k // 2:
            raise ValueError(
                f"padding must be at most half of kernel_size (padding <= kernel_size // 2), "
                f"got padding={pad} and kernel_size={k}")
    out = []
    for axis in range(2):
        n, k, s, pad, d = (p[name][axis] for name in ("size", "kernel_size", "stride", "padding", "dilation"))
        span = n + 2 * pad - _effective_kernel(k, d)
        if ceil_mode:
            o = -(-span // s) + 1          # ceil(span / stride) + 1
            if (o - 1) * s >= n + pad:     # last window would start in the right padding
                o -= 1
        else:
            o = span // s + 1
        if o < 1:
            raise ValueError(
                f"kernel_size {k} (dilation {d}) is larger than the padded input "
                f"({n} + 2*{pad} = {n + 2 * pad} pixels): no pooling window fits")
        out.append(o)
    return _result(*out, any_pair)


def conv_transpose2d_output_size(
    size: Size,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size = 0,
    output_padding: Size = 0,
    dilation: Size = 1,
) -> Size:
    """Spatial output size of ``nn.ConvTranspose2d``::

        H_out = (H_in - 1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1

    A transposed convolution maps an input of size ``H_out`` *back* to ``H_in`` under the
    matching ``nn.Conv2d``. With ``stride > 1`` several input sizes give the same conv
    output, and ``output_padding`` picks which one: it adds pixels on one side (bottom /
    right) only, so PyTorch requires ``output_padding < max(stride, dilation)``
    (``ValueError`` naming ``output_padding`` otherwise). An output size below 1 (padding
    too large) raises ``ValueError`` naming ``padding``.

    >>> conv_transpose2d_output_size(14, 4, stride=2, padding=1)   # doubles the size
    28
    >>> conv_transpose2d_output_size(7, 3, stride=2, padding=1, output_padding=1)
    14
    """
    p, any_pair = _as_pairs(size=(size, _validate.positive_int),
                            kernel_size=(kernel_size, _validate.positive_int),
                            stride=(stride, _validate.positive_int),
                            padding=(padding, _validate.nonneg_int),
                            output_padding=(output_padding, _validate.nonneg_int),
                            dilation=(dilation, _validate.positive_int))
    for op, s, d in zip(p["output_padding"], p["stride"], p["dilation"]):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than max(stride, dilation) = {max(s, d)}, "
                f"got output_padding={op}")
    out = []
    for axis in range(2):
        n, k, s, pad, op, d = (p[name][axis] for name in
                               ("size", "kernel_size", "stride", "padding", "output_padding", "dilation"))
        o = (n - 1) * s - 2 * pad + d * (k - 1) + op + 1
        if o < 1:
            raise ValueError(
                f"padding {pad} is too large: the output size would be {o} "
                f"(= ({n}-1)*{s} - 2*{pad} + {d}*({k}-1) + {op} + 1)")
        out.append(o)
    return _result(*out, any_pair)


def same_padding(kernel_size: Size, dilation: Size = 1) -> Size:
    """Symmetric padding that keeps the size unchanged for a stride-1 convolution::

        padding = dilation*(kernel_size-1) // 2

    With stride 1 the output size is ``H_in + 2*padding - (k_eff - 1)`` where
    ``k_eff = dilation*(kernel_size-1) + 1``, so "same" needs ``2*padding = k_eff - 1``:
    possible only when the effective kernel ``k_eff`` is **odd** (3x3, 5x5, 3x3 with
    dilation 2, ...).

    For an even effective kernel (2x2, 4x4) "same" needs one more pixel of padding on
    one side than on the other; this function then raises ``ValueError``. PyTorch's
    ``nn.Conv2d(..., padding="same")`` handles that case by padding the extra pixel on
    the right/bottom.

    >>> same_padding(3), same_padding(5), same_padding(3, dilation=2)
    (1, 2, 2)
    """
    p, any_pair = _as_pairs(kernel_size=(kernel_size, _validate.positive_int),
                            dilation=(dilation, _validate.positive_int))
    out = []
    for axis in range(2):
        k, d = p["kernel_size"][axis], p["dilation"][axis]
        k_eff = _effective_kernel(k, d)
        if k_eff % 2 == 0:
            raise ValueError(
                f"kernel_size {k} with dilation {d} spans an even number of pixels ({k_eff}): "
                f"'same' output size then needs asymmetric padding ({(k_eff - 1) // 2} on the "
                f"left/top, {k_eff // 2} on the right/bottom), which a single symmetric padding "
                f"value cannot express. Use nn.Conv2d(..., padding='same'), which pads the extra "
                f"pixel on the right/bottom, or F.pad before the convolution.")
        out.append((k_eff - 1) // 2)
    return _result(*out, any_pair)

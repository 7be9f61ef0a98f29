"""Checks for the exercises of notebook 00 (tensors and layouts).

No failure message names the expected value: each says what looks wrong and which
mistake it resembles (width and height swapped, channels last, the grayscale channel
count, the kernel size not subtracted, ...).
"""
from __future__ import annotations

from typing import Any

import torch

from .core import CheckFailed, NOT_IMPLEMENTED, passed, protect

_STUB = ("{what} is not implemented yet (not set): replace the `...` with your answer (a tuple) and run the cell again.")


def _shape(value: Any, what: str) -> tuple:
    if value is None or value is ...:
        raise CheckFailed(_STUB.format(what=what))
    if isinstance(value, torch.Size):
        return tuple(value)
    if isinstance(value, (str, bytes)):
        raise CheckFailed(f"{what} should be a tuple of sizes such as (N, C, H, W), got the text {value!r}")
    try:
        got = tuple(value)
        return tuple(int(v) if isinstance(v, (int, float)) and float(v).is_integer() else v for v in got)
    except TypeError:
        raise CheckFailed(f"{what} should be a tuple of sizes such as (N, C, H, W), got {value!r}") from None


def check_batch_shape(answer: tuple, hidden: bool = False) -> None:
    """The (N, C, H, W) shape of a batch of 32 MNIST images (kept for older copies of notebook 00)."""
    got = _shape(answer, "batch_shape")
    expected = (32, 1, 28, 28)
    if got == expected:
        passed("batch_shape")
        return
    if len(got) == 3:
        hint = "a batch has four axes (N, C, H, W): did you leave out the channel axis of a grayscale image?"
    elif len(got) != 4:
        hint = "a batch has four axes (N, C, H, W)"
    elif sorted(got) == sorted(expected):
        hint = "the order is (N, C, H, W): batch first, then channels, then height and width"
    elif got[0] != expected[0]:
        hint = "N is the number of images in the batch"
    elif got[1] != expected[1]:
        hint = "C counts channels: an MNIST digit is grayscale"
    else:
        hint = "H and W are the size of one MNIST image (section 2 prints it)"
    raise CheckFailed(f"batch_shape {got} is not right: {hint}")


# Exercise 1 of notebook 00: 16 colour photos quoted "160x120" (width x height), then
# F.conv2d with 8 kernels of 5x5, stride 1, no padding.
WARMUP_N, WARMUP_W, WARMUP_H, WARMUP_COUT, WARMUP_K = 16, 160, 120, 8, 5


def check_warmup_shapes(batch_shape: Any, conv_shape: Any) -> None:
    """Exercise 1 of notebook 00: the (N, C, H, W) shape of the photo batch, then its shape after
    ``F.conv2d`` with a ``(8, 3, 5, 5)`` kernel (stride 1, no padding)."""
    n, w, h, c_out, k = WARMUP_N, WARMUP_W, WARMUP_H, WARMUP_COUT, WARMUP_K
    right = (n, 3, h, w)
    got = _shape(batch_shape, "batch_shape")
    if got != right:
        if len(got) != 4:
            hint = "a batch of images has four axes (N, C, H, W)"
        elif got == (n, 3, w, h):
            hint = ("\"160x120\" is quoted width x height, as screen resolutions are; PyTorch puts the height "
                    "(rows) before the width (columns)")
        elif got == (n, h, w, 3) or got == (n, w, h, 3):
            hint = "that is channels-last, the layout of imshow; F.conv2d wants (N, C, H, W)"
        elif got[0] != n:
            hint = "N is the number of photos in the batch"
        elif got[1] == 1:
            hint = "colour photos have three channels (R, G, B); one channel is grayscale, like MNIST"
        elif got[1] != 3:
            hint = "C counts the colour channels of one photo"
        else:
            hint = "H is the number of rows and W the number of columns of one photo"
        raise CheckFailed(f"batch_shape {got} is not right: {hint}")
    got = _shape(conv_shape, "conv_shape")
    right = (n, c_out, h - k + 1, w - k + 1)
    if got != right:
        if len(got) != 4:
            hint = "the output of a 2-D convolution is again (N, C, H, W)"
        elif got[0] != n:
            hint = "a convolution keeps the batch axis: one output per photo"
        elif got[1] == 3:
            hint = "the output has one channel per kernel (C_out), not the input's colour channels"
        elif got[1] != c_out:
            hint = "the number of output channels is the first axis of the kernel tensor (C_out, C_in, kH, kW)"
        elif got[2:] == (h, w):
            hint = "without padding a 5x5 kernel cannot be centred on the border pixels: the map shrinks"
        elif got[2:] == (h - k, w - k):
            hint = "off by one: count the positions a 5-wide window fits in, including the first one"
        elif got[2:] == (h - k + 2, w - k + 2) or got[2:] == (h - k // 2, w - k // 2):
            hint = "a 5x5 kernel loses two pixels on each side without padding"
        elif got[2:] == (w - k + 1, h - k + 1):
            hint = "height first, then width: keep the order of batch_shape"
        else:
            hint = "count how many positions a 5-wide window has along a row of the photo, and along a column"
        raise CheckFailed(f"conv_shape {got} is not right: {hint}")
    passed("batch_shape and conv_shape")
    print("  why: with stride 1 and no padding a k-wide kernel fits n - k + 1 times, so every unpadded "
          "layer trims k - 1 pixels; notebook 03 adds padding to keep the size.")


def check_flatten_batch(fn, hidden: bool = False) -> None:
    """``fn(x)``: (N, C, H, W) -> (N, C*H*W), keeping the batch axis."""
    shapes = [(2, 1, 4, 4), (3, 3, 5, 7)] + ([(1, 2, 3, 1), (5, 4, 2, 2)] if hidden else [])
    for shape in shapes:
        x = torch.arange(torch.tensor(shape).prod().item(), dtype=torch.float32).reshape(shape)
        try:
            got = fn(x)
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="flatten_batch")) from None
        if got is None:
            raise CheckFailed(f"flatten_batch returned None for x of shape {shape}: did you forget `return`?")
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"flatten_batch should return a tensor, got a {type(got).__name__}")
        n = shape[0]
        gshape = tuple(got.shape)
        if gshape == (x.numel(),):
            raise CheckFailed(f"flatten_batch of shape {shape} returned one long vector: keep the batch axis "
                              f"and flatten only the others")
        if gshape != (n, x.numel() // n):
            if len(gshape) != 2:
                hint = "the result should have two axes: the batch axis and one long axis per image"
            elif gshape[0] != n:
                hint = "the first axis must stay the batch axis, with one row per image"
            else:
                hint = "each row must hold every value of one image: C times H times W of them"
            raise CheckFailed(f"flatten_batch of shape {shape} returned shape {gshape}: {hint}")
        if not torch.equal(got.detach().to(x.dtype), x.reshape(n, -1)):
            raise CheckFailed(f"flatten_batch of shape {shape} has the right shape but the values are in a "
                              "different order: keep PyTorch's row-major order (channel, then row, then column), "
                              "which reshape keeps and permute changes")
    passed("flatten_batch")


protect(globals())

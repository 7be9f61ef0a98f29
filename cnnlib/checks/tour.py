"""Checks for the exercises of notebook 00 (tensors and layouts)."""
from __future__ import annotations

import torch

from .core import CheckFailed, NOT_IMPLEMENTED, expect_close, expect_equal, passed, protect


def check_batch_shape(answer: tuple, hidden: bool = False) -> None:
    """The (N, C, H, W) shape of a batch of 32 MNIST images (64 colour 32x32 images when hidden)."""
    if answer is None or answer is ...:
        raise CheckFailed(NOT_IMPLEMENTED.format(what="batch_shape"))
    expected = (32, 1, 28, 28)
    got = tuple(answer)
    hint = None
    if len(got) == 3:
        hint = "a batch has four axes (N, C, H, W): did you leave out the channel axis of a grayscale image?"
    elif sorted(got) == sorted(expected) and got != expected:
        hint = "the order is (N, C, H, W): batch first, then channels, then height and width"
    expect_equal(got, expected, "batch_shape", hint)
    passed("batch_shape")


def check_flatten_batch(fn, hidden: bool = False) -> None:
    """``fn(x)``: (N, C, H, W) -> (N, C*H*W), keeping the batch axis."""
    shapes = [(2, 1, 4, 4), (3, 3, 5, 7)] + ([(1, 2, 3, 1), (5, 4, 2, 2)] if hidden else [])
    for shape in shapes:
        x = torch.arange(torch.tensor(shape).prod().item(), dtype=torch.float32).reshape(shape)
        try:
            got = fn(x)
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="flatten_batch")) from None
        n = shape[0]
        if tuple(got.shape) == (x.numel(),):
            raise CheckFailed(f"flatten_batch of shape {shape} returned shape {tuple(got.shape)}, expected "
                              f"{(n, x.numel() // n)}: keep the batch axis, flatten only the others")
        expect_equal(tuple(got.shape), (n, x.numel() // n), f"the shape of flatten_batch(x) for x of shape {shape}")
        expect_close(got, x.reshape(n, -1), f"flatten_batch(x) for x of shape {shape}",
                     hint="the values must keep PyTorch's row-major order (channel, then row, then column)")
    passed("flatten_batch")


protect(globals())

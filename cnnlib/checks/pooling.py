"""Checks for the exercises of notebook 04 (pooling).

The reference answers are cnnlib's own NumPy ops (``cnnlib.ops.im2col``, tested against
PyTorch in ``tests/test_ops_pool.py``); a wrong answer is compared with the typical mistakes
(average instead of max, overlapping windows, channels mixed, a running max started at 0, a
backward that spreads the gradient over the whole window, ...) to say which one it looks
like. No failure message names the expected value (shape or numbers).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..ops import im2col
from .core import NOT_IMPLEMENTED, CheckFailed, numerical_gradient, passed, protect

NOT_SET = ("{what} is not implemented yet: replace the `...` (and the `raise NotImplementedError()` line) "
           "with your answer and run the cell again.")


def _inputs(hidden: bool) -> list[np.ndarray]:
    """Test inputs (N, C, H, W): distinct values, so that every window has one maximum."""
    rng = np.random.default_rng(0)
    xs = [
        rng.permutation(16).reshape(1, 1, 4, 4).astype(np.float64),
        rng.standard_normal((2, 3, 4, 6)),
    ]
    xs[1][:, 1] = -np.abs(xs[1][:, 1]) - 0.5   # a channel with only negative values
    if hidden:
        xs += [rng.standard_normal((1, 2, 5, 7)), rng.standard_normal((3, 4, 8, 8))]
    return xs


def _call(fn: Callable[..., Any], what: str, shape: tuple[int, ...], *args: Any) -> np.ndarray:
    try:
        got = fn(*args)
    except NotImplementedError:
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what)) from None
    except Exception as err:  # a learner's bug: report it as feedback, not a traceback
        hint = ""
        if shape[2] % 2 or shape[3] % 2:
            hint = (": with an odd height or width the last row/column does not fill a 2x2 window and "
                    "is dropped; crop first, e.g. x[:, :, :H//2*2, :W//2*2]")
        raise CheckFailed(f"{what} raised {type(err).__name__}: {err} (input of shape {shape}){hint}") from None
    if got is None:
        raise CheckFailed(f"{what} returned None (input of shape {shape}): did you forget `return`?")
    if isinstance(got, torch.Tensor):
        got = got.detach().cpu().numpy()
    return np.asarray(got, dtype=np.float64)


def _upsample(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Repeat each value of a (N, C, h, w) array over its 2x2 window; zeros where no window reaches."""
    out = np.zeros(shape)
    h, w = a.shape[2] * 2, a.shape[3] * 2
    out[:, :, :h, :w] = a.repeat(2, axis=2).repeat(2, axis=3)
    return out


def _pool_ref(x: np.ndarray) -> np.ndarray:
    return im2col.max_pool2d_forward(x, 2)[0]


def _wrong_values(what: str, got: np.ndarray, expected: np.ndarray, hint: str) -> CheckFailed:
    """A failure that says how many values are off and where the first one is, not what it should be."""
    bad = ~np.isclose(got, expected, atol=1e-6, rtol=1e-5)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return CheckFailed(f"{what}: {int(bad.sum())} of {bad.size} values are wrong, the first at index {first} "
                       f"(yours: {got[first]:.4g}): {hint}")


def check_max_pool_2x2(fn: Callable[[np.ndarray], Any], hidden: bool = False) -> None:
    """``fn(x)``: 2x2 max pooling with stride 2, ``x: (N, C, H, W) -> (N, C, H//2, W//2)``."""
    for x in _inputs(hidden):
        n, c, h, w = x.shape
        got = _call(fn, "max_pool_2x2", x.shape, x.copy())
        expected = _pool_ref(x)
        if got.shape != expected.shape:
            hint = "the output of 2x2 pooling with stride 2 has half the height and width"
            if got.shape == (n, c, h - 1, w - 1):
                hint = "the windows overlap (stride 1): move by 2 so that the 2x2 windows do not overlap"
            elif got.shape == (n, c, -(-h // 2), -(-w // 2)):
                hint = ("a last row/column that does not fill a whole 2x2 window is dropped (floor), "
                        "as in nn.MaxPool2d(2)")
            elif got.shape == x.shape:
                hint = "the output has the input's size: take one value per 2x2 window"
            elif got.ndim != 4 or got.shape[:2] != (n, c):
                hint = "keep the batch and channel axes (N, C): pooling works on each channel separately"
            raise CheckFailed(f"max_pool_2x2 of an input of shape {x.shape} returned shape {got.shape}, "
                              f"which is not right: {hint}")
        if np.allclose(got, expected):
            continue
        crop = x[:, :, :h // 2 * 2, :w // 2 * 2]
        avg = im2col.avg_pool2d_forward(x, 2)[0]
        over_channels = np.broadcast_to(expected.max(axis=1, keepdims=True), expected.shape)
        if np.allclose(got, avg):
            hint = "this is the average of each window: max pooling keeps the largest value"
        elif np.allclose(got, over_channels):
            hint = "the maximum is taken over the channels too: pool each channel separately"
        elif np.allclose(got, np.maximum(expected, 0)):
            hint = ("windows with only negative values give 0: start the running maximum at the first "
                    "value of the window (or -inf), not at 0")
        elif np.allclose(got, crop[:, :, ::2, ::2]):
            hint = "this is the top-left value of each window (subsampling), not the maximum"
        elif np.allclose(got, -_pool_ref(-x)):
            hint = "this is the minimum of each window: max pooling keeps the largest value"
        else:
            hint = "each output (i, j) is the maximum of x[:, :, 2i:2i+2, 2j:2j+2]"
        raise _wrong_values(f"max_pool_2x2 of an input of shape {x.shape}", got, expected, hint)
    passed("max_pool_2x2")


def _backward_ref(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    return im2col.max_pool2d_backward(dout, im2col.max_pool2d_forward(x, 2)[1])


def check_max_pool_2x2_backward(fn: Callable[[np.ndarray, np.ndarray], Any], hidden: bool = False) -> None:
    """``fn(dout, x)``: gradient of 2x2/stride-2 max pooling,
    ``dout: (N, C, H//2, W//2), x: (N, C, H, W) -> dx: (N, C, H, W)``; checked against
    ``cnnlib.ops.im2col.max_pool2d_backward``."""
    rng = np.random.default_rng(1)
    for x in _inputs(hidden):
        n, c, h, w = x.shape
        dout = rng.uniform(0.5, 2.0, size=(n, c, h // 2, w // 2))
        got = _call(fn, "max_pool_2x2_backward", x.shape, dout.copy(), x.copy())
        expected = _backward_ref(dout, x)
        if got.shape != x.shape:
            raise CheckFailed(f"max_pool_2x2_backward returned shape {got.shape} for x of shape {x.shape}: "
                              "dx has the shape of the input x, not of dout")
        if np.allclose(got, expected):
            continue
        mask = _backward_ref(np.ones_like(dout), x)
        if np.allclose(got, _upsample(dout, x.shape) / 4):
            hint = ("that is average pooling's backward (dout/4 to every pixel): in max pooling only the "
                    "maximum of each window affected the output, so only it gets the gradient")
        elif np.allclose(got, _upsample(dout, x.shape)):
            hint = "dout is copied to all four pixels of each window: only the maximum gets it, the rest get 0"
        elif np.allclose(got, mask):
            hint = "the positions are right but the values are not: multiply by dout (chain rule)"
        elif np.allclose(got[:, :, :h // 2 * 2, :w // 2 * 2], expected[:, :, :h // 2 * 2, :w // 2 * 2]):
            hint = "the last row/column belongs to no window (it was dropped), so its gradient is 0"
        else:
            hint = ("in each 2x2 window, the position of the maximum of x gets the window's dout, "
                    "the other three get 0")
        raise _wrong_values(f"max_pool_2x2_backward for x of shape {x.shape}", got, expected, hint)
    passed("max_pool_2x2_backward")


def check_max_pool_2x2_gradient(backward: Callable[[np.ndarray, np.ndarray], Any], eps: float = 1e-6) -> None:
    """A numerical gradient check of ``backward(dout, x)`` for 2x2/stride-2 max pooling.

    The loss ``L(x) = sum(dout * max_pool(x))`` is nudged one input at a time,
    ``(L(x + eps e_i) - L(x - eps e_i)) / (2 eps)`` (central differences), and compared with
    ``backward(dout, x)[i]``. Prints the largest relative error; a failure names the first
    input where they disagree, without printing the numerical value there.
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1e-2:
        raise ValueError(f"eps must be a small positive number (e.g. 1e-6), got {eps!r}")
    rng = np.random.default_rng(7)
    x = rng.permutation(2 * 3 * 6 * 5).reshape(2, 3, 6, 5).astype(np.float64) / 10.0   # no ties
    dout = rng.standard_normal((2, 3, 3, 2))
    dx = _call(backward, "max_pool_2x2_backward", x.shape, dout.copy(), x.copy())
    if dx.shape != x.shape:
        raise CheckFailed(f"max_pool_2x2_backward returned shape {dx.shape} for x of shape {x.shape}: "
                          "dx has the shape of the input x")

    def loss(z: np.ndarray) -> float:
        return float((dout * _pool_ref(z)).sum())

    num = numerical_gradient(loss, x, eps)
    rel = np.abs(dx - num) / np.maximum(1e-8, np.abs(dx) + np.abs(num))
    worst = float(rel.max())
    if worst > 1e-5:
        first = tuple(int(v) for v in np.argwhere(rel > 1e-5)[0])
        raise CheckFailed(f"numerical gradient check failed: relative error {worst:.2g} (should be below 1e-5); "
                          f"at x{list(first)} your dx is {dx[first]:.4g}, but nudging that input changes the loss "
                          f"at another rate. Print dx and dout for one 2x2 window and compare by hand")
    size = "below 1e-6" if worst < 1e-6 else "below 1e-5"      # coarse, so the output is the same everywhere
    passed(f"numerical gradient check (largest relative error {size} over {x.size} inputs)")


# x: (8, 16, 17, 17) -> nn.MaxPool2d(2) -> nn.MaxPool2d(3, stride=2)
POOL_INPUT = (8, 16, 17, 17)
POOL_EXPECTED = (8, 16, 3, 3)


def check_pool_output_shape(answer: Any) -> None:
    """Shape after ``nn.MaxPool2d(2)`` then ``nn.MaxPool2d(3, stride=2)`` on ``(8, 16, 17, 17)``."""
    if answer is None or answer is ...:
        raise CheckFailed(NOT_SET.format(what="pooled_shape"))
    try:
        got = tuple(int(v) if float(v).is_integer() else v for v in answer)
    except TypeError:
        raise CheckFailed(f"pooled_shape should be a tuple like (N, C, H, W), got {answer!r}") from None
    if got == POOL_EXPECTED:
        passed("pooled_shape")
        return
    hints = {
        (8, 16, 8, 8): "that is after the first pooling only: apply the 3x3 stride-2 pooling to it too",
        (8, 16, 4, 4): "PyTorch rounds down (floor, ceil_mode=False) at each pooling, the second one too: redo it with floor",
        (8, 16, 2, 2): "the second pooling has stride 2 (given explicitly), not the default stride = kernel size 3",
        (8, 16, 2.5, 2.5): "sizes are whole numbers: round down (floor)",
    }
    if len(got) == 3:
        hint = "keep the batch axis: the shape has four entries (N, C, H, W)"
    elif len(got) == 4 and got[1] != 16:
        hint = "pooling works on each channel separately: the number of channels stays 16"
    elif len(got) == 4 and got[0] != 8:
        hint = "pooling does not change the batch size"
    else:
        hint = hints.get(got, "apply the pooling output-size formula to each pooling in turn, rounding down each time")
    raise CheckFailed(f"pooled_shape {got} is not right: {hint}")


protect(globals())

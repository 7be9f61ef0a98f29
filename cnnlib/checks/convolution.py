"""Checks for the exercises of notebook 02 (convolution).

The reference answers come from :mod:`cnnlib.ops` and PyTorch; a wrong answer is compared
with the typical mistakes (a flipped kernel, i.e. true convolution; the stride ignored;
the ``+ 1`` of the output size forgotten or the size rounded up; windows that move by 1
instead of by the stride; in_channels taken for the number of filters; one feature map
per input channel; the weight axes in the wrong order) to say which one it looks like.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..ops.signal import convolve2d, correlate2d
from .core import NOT_IMPLEMENTED, CheckFailed, _to_np, passed, protect


def _reference(image: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    return correlate2d(image, kernel)[::stride, ::stride]


def _strided_cases(hidden: bool) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(image, kernel, stride): asymmetric kernels so that a flip shows; sizes where floor matters."""
    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return rng.integers(-4, 5, size=shape).astype(np.float64)

    cases = [(r(5, 5), r(3, 3), 1),      # the notes' worked example: 5x5 image, 3x3 filter -> 3x3
             (r(8, 7), r(3, 2), 2),      # floor((8-3)/2)+1 = 3, floor((7-2)/2)+1 = 3
             (r(9, 10), r(2, 3), 3)]     # 3 x 3
    if hidden:
        cases += [(r(6, 6), r(3, 3), 2), (r(4, 11), r(1, 4), 3), (r(7, 7), r(3, 3), 1), (r(3, 3), r(3, 3), 2)]
    return cases    # no kernel equals its own flip (tested), so a flipped kernel shows


def check_correlate2d_strided(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(image, kernel, stride)``: one-channel cross-correlation, no padding, as ``F.conv2d``.

    ``image: (H, W), kernel: (kH, kW), stride: int ->
    (floor((H - kH) / stride) + 1, floor((W - kW) / stride) + 1)``.
    """
    for image, kernel, stride in _strided_cases(hidden):
        desc = f"image {image.shape}, kernel {kernel.shape}, stride {stride}"
        try:
            got = fn(image.copy(), kernel.copy(), stride)
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="correlate2d_strided")) from None
        except Exception as err:  # a learner's bug: report it as feedback
            raise CheckFailed(
                f"correlate2d_strided raised {type(err).__name__}: {err} ({desc}): loop over the output "
                "positions i < H_out, j < W_out and take image[i*stride : i*stride + kH, "
                "j*stride : j*stride + kW]") from None
        if got is None:
            raise CheckFailed(f"correlate2d_strided returned None ({desc}): did you forget `return`?")
        a = _to_np(got).astype(np.float64)
        expected = _reference(image, kernel, stride)
        (h, w), (kh, kw) = image.shape, kernel.shape
        if a.shape != expected.shape:
            if a.shape == (h - kh + 1, w - kw + 1):
                hint = "the stride seems to be ignored: the window must move `stride` pixels at a time"
            elif a.shape == ((h - kh) // stride, (w - kw) // stride):
                hint = "one output is missing per axis: H_out = floor((H - kH) / stride) + 1 (the first window sits at 0)"
            elif a.shape == (-(-(h - kh) // stride) + 1, -(-(w - kw) // stride) + 1):
                hint = "round down: a window that would stick out of the image is not computed"
            elif a.shape == (-(-h // stride), -(-w // stride)) or a.shape == (h // stride, w // stride):
                hint = "every window must fit inside the image: H_out = floor((H - kH) / stride) + 1"
            elif a.shape == expected.shape[::-1]:
                hint = "rows and columns are swapped: the first axis is the height (rows)"
            else:
                hint = "H_out = floor((H - kH) / stride) + 1, W_out = floor((W - kW) / stride) + 1"
            raise CheckFailed(f"correlate2d_strided returned shape {a.shape} ({desc}), "
                              f"expected {expected.shape}: {hint}")
        if np.allclose(a, expected):
            continue
        if np.allclose(a, convolve2d(image, kernel)[::stride, ::stride]):
            hint = ("the kernel is flipped: that is the convolution of signal processing; CNN layers "
                    "(F.conv2d) compute cross-correlation, the kernel as it is")
        elif np.allclose(a, correlate2d(image, kernel)[: a.shape[0], : a.shape[1]]):
            hint = "the windows move by 1: output (i, j) starts at row i*stride, column j*stride"
        elif a.shape == a.shape[::-1] and np.allclose(a, expected.T):
            hint = "rows and columns are swapped: out[i, j] comes from the window at row i*stride, column j*stride"
        elif kernel.shape == kernel.shape[::-1] and np.allclose(a, _reference(image, kernel.T, stride)):
            hint = "the kernel is transposed: kernel[u, v] multiplies image[i*stride + u, j*stride + v]"
        else:
            hint = "out[i, j] = sum(image[i*stride : i*stride + kH, j*stride : j*stride + kW] * kernel)"
        diff = float(np.abs(a - expected).max())
        raise CheckFailed(f"correlate2d_strided gives wrong values ({desc}; largest difference {diff:.4g}): {hint}")
    passed("correlate2d_strided")


# --------------------------------------------------------------------------- exercise 2
# x: (8, 3, 32, 32) -> nn.Conv2d(3, 6, kernel_size=5, stride=2)
CONV_INPUT = (8, 3, 32, 32)
CONV_OUT_SHAPE = (8, 6, 14, 14)        # floor((32 - 5) / 2) + 1 = 14
CONV_MAPS = 6
CONV_WEIGHT_SHAPE = (6, 3, 5, 5)


def _shape(value: Any, what: str) -> tuple:
    try:
        return tuple(int(v) if float(v).is_integer() else v for v in value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} should be a tuple of sizes, got {value!r}") from None


def _stub(what: str) -> CheckFailed:
    return CheckFailed(NOT_IMPLEMENTED.format(what=what).replace(
        "replace the `raise NotImplementedError()` line", "replace the `...`"))


def check_conv_answers(out_shape: Any, num_feature_maps: Any, weight_shape: Any) -> None:
    """Output shape, number of feature maps and weight shape of ``nn.Conv2d(3, 6, 5, stride=2)``
    on a batch of shape ``(8, 3, 32, 32)``."""
    for name, value in (("out_shape", out_shape), ("num_feature_maps", num_feature_maps),
                        ("weight_shape", weight_shape)):
        if value is None or value is ...:
            raise _stub(name)
    got = _shape(out_shape, "out_shape")
    n, c, h, w = CONV_OUT_SHAPE
    if got != CONV_OUT_SHAPE:
        if got == CONV_OUT_SHAPE[1:]:
            hint = "keep the batch axis: the output is (N, C_out, H_out, W_out)"
        elif len(got) != 4:
            hint = "the output has four axes (N, C_out, H_out, W_out)"
        elif got == (n, h, w, c):
            hint = "PyTorch puts the channels second: (N, C_out, H_out, W_out)"
        elif got[0] != n:
            hint = "a convolution does not change the batch size"
        elif got[1] == 3:
            hint = "the output has one channel per filter: out_channels = 6, not in_channels = 3"
        elif got[1] == 18:
            hint = ("each filter already covers all 3 input channels and gives ONE map: "
                    "6 filters -> 6 channels, not 6 * 3")
        elif got[1] != c:
            hint = "the output has one channel per filter (out_channels)"
        elif got[2:] == (28, 28):
            hint = "that is stride 1: with stride 2 the window moves 2 pixels at a time"
        elif got[2:] == (13, 13):
            hint = "H_out = floor((32 - 5) / 2) + 1: the +1 counts the first window"
        elif got[2:] in ((13.5, 13.5), (14.5, 14.5)):
            hint = "sizes are whole numbers: round (32 - 5) / 2 down, then add 1"
        elif got[2:] in ((15, 15), (16, 16)):
            hint = "round down: floor((32 - 5) / 2) + 1, a window that sticks out is not computed"
        else:
            hint = "H_out = floor((H - k) / stride) + 1"
        raise CheckFailed(f"out_shape is {got}, which is not right: {hint}")
    maps = num_feature_maps
    if isinstance(maps, float) and maps.is_integer():
        maps = int(maps)
    if maps != CONV_MAPS:
        hints = {3: "in_channels is the number of input channels; the number of filters is out_channels",
                 18: "one filter gives ONE feature map however many input channels it reads",
                 8: "that is the batch size; count the maps of one image (one per filter)"}
        raise CheckFailed(f"num_feature_maps is {maps!r}, which is not right: "
                          + hints.get(maps, "one feature map per filter"))
    got_w = _shape(weight_shape, "weight_shape")
    if got_w != CONV_WEIGHT_SHAPE:
        if got_w == (6, 5, 5):
            hint = "each filter has as many channels as its input: (out_channels, in_channels, kH, kW)"
        elif got_w == (3, 6, 5, 5):
            hint = "PyTorch stores the filters first: (out_channels, in_channels, kH, kW)"
        elif got_w == (5, 5, 3, 6):
            hint = "that is TensorFlow/Keras' (kH, kW, in, out) layout; PyTorch's is (out, in, kH, kW)"
        else:
            hint = "nn.Conv2d.weight has shape (out_channels, in_channels / groups, kH, kW)"
        raise CheckFailed(f"weight_shape is {got_w}, which is not right: {hint}")
    passed("out_shape, num_feature_maps and weight_shape")


protect(globals())

"""Checks for the exercises of notebook 01 (data as tensors, linear layers, parameter counts).

Each check compares the answer with the value computed by PyTorch and, when it is
wrong, with the typical mistakes (width and height swapped, seconds not turned into
frames, a weight used without the transpose ``nn.Linear`` applies, a bias forgotten,
a filter counted with one channel, ...) to say which one it looks like.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .core import NOT_IMPLEMENTED, CheckFailed, _to_np, passed, protect

_STUB = "replace the `...`"


def _not_answered(value: Any) -> bool:
    return value is None or value is ...


def _stub(what: str) -> CheckFailed:
    return CheckFailed(NOT_IMPLEMENTED.format(what=what).replace("replace the `raise NotImplementedError()` line", _STUB))


def _int(value: Any, what: str) -> int:
    """An int answer (ints, integral floats and 0-d tensors are accepted)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, str)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CheckFailed(f"{what} should be a whole number, got {value!r} ({type(value).__name__})")
    if not float(value).is_integer():
        raise CheckFailed(f"{what} should be a whole number, got {value!r}: counts and sizes have no fractions")
    return int(value)


def _shape(value: Any, what: str) -> tuple:
    if isinstance(value, torch.Size):
        return tuple(value)
    try:
        return tuple(int(v) if float(v).is_integer() else v for v in value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} should be a tuple of sizes such as (N, C, T, H, W), got {value!r}") from None


# --------------------------------------------------------------------------- exercise 1
# A batch of 8 colour clips, 10 seconds each at 24 frames per second, 640x480 (width x height),
# as one float32 tensor in nn.Conv3d's layout (N, C, T, H, W).
VIDEO_CLIPS, VIDEO_SECONDS, VIDEO_FPS, VIDEO_WIDTH, VIDEO_HEIGHT = 8, 10, 24, 640, 480
VIDEO_SHAPE = (VIDEO_CLIPS, 3, VIDEO_SECONDS * VIDEO_FPS, VIDEO_HEIGHT, VIDEO_WIDTH)   # (8, 3, 240, 480, 640)
VIDEO_BYTES = math.prod(VIDEO_SHAPE) * 4                                                 # 7,077,888,000


def check_video(video_shape: Any, video_bytes: Any) -> None:
    """The (N, C, T, H, W) shape of the batch of clips above and its size in bytes as float32."""
    if _not_answered(video_shape):
        raise _stub("video_shape")
    got = _shape(video_shape, "video_shape")
    n, c, t, h, w = VIDEO_SHAPE
    if got != VIDEO_SHAPE:
        if len(got) == 4:
            hint = "that is one clip's (T, C, H, W): nn.Conv3d reads a batch of clips, five axes (N, C, T, H, W)"
        elif len(got) != 5:
            hint = "a batch of clips for nn.Conv3d has five axes (N, C, T, H, W)"
        elif got == (n, c, t, w, h):
            hint = ("640x480 is written width x height (like 1920x1080): H = 480 rows, W = 640 columns, "
                    "and PyTorch puts H before W")
        elif got == (n, t, c, h, w):
            hint = "that is (N, T, C, H, W), a batch of (T, C, H, W) clips: nn.Conv3d wants the channels before time"
        elif got == (n, t, h, w, c):
            hint = "that is channels-last; nn.Conv3d's layout is (N, C, T, H, W)"
        elif got[:2] == (n, c) and got[3:] == (h, w) and got[2] == VIDEO_SECONDS:
            hint = "that is the number of seconds: T counts frames"
        elif got[:2] == (n, c) and got[3:] == (h, w):
            hint = "T counts frames, not seconds: how many frames does each second hold?"
        elif got[1:] == (c, t, h, w):
            hint = "N counts the clips in the batch"
        elif got[1] == 1:
            hint = "a colour clip has 3 channels (R, G, B); the notes' movie was grayscale (1 channel)"
        else:
            hint = "write the axes in the order (N, C, T, H, W) and fill in each one from the description of the clips"
        raise CheckFailed(f"video_shape is {got}, which is not right: {hint}")
    if _not_answered(video_bytes):
        raise _stub("video_bytes")
    got_b = _int(video_bytes, "video_bytes")
    if got_b != VIDEO_BYTES:
        elements = math.prod(VIDEO_SHAPE)
        hints = {
            elements: "that is the number of elements: each float32 takes 4 bytes",
            elements * 8: "that is float64 (8 bytes each): float32 takes 4 bytes",
            elements * 32: "that is in bits: float32 is 32 bits = 4 bytes",
            VIDEO_BYTES // VIDEO_CLIPS: "that is one clip: the tensor holds the whole batch",
        }
        hint = hints.get(got_b) or "count the elements of the shape first, then the bytes one float32 takes"
        raise CheckFailed(f"video_bytes is {got_b:,}, which is not right: {hint}")
    passed("video_shape and video_bytes")


# --------------------------------------------------------------------------- exercise 2
def _linear_cases(hidden: bool) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    g = torch.Generator().manual_seed(0)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    cases = [(r(4, 2), r(1, 2), r(1)),        # the notes' toy: 4 points in 2-D -> one number each
             (r(5, 3), r(4, 3), None),        # no bias (nn.Linear(3, 4, bias=False))
             (r(3, 3), r(3, 3), r(3))]        # square weight: a missing transpose keeps the shape
    if hidden:
        cases += [(r(2, 6), r(5, 6), r(5)), (r(7, 4), r(4, 4), None), (r(1, 1), r(1, 1), r(1))]
    return cases


def check_linear_forward(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(x, weight, bias)`` as ``nn.Linear``: ``x: (N, in), weight: (out, in), bias: (out,) or None -> (N, out)``."""
    for x, w, b in _linear_cases(hidden):
        desc = f"x of shape {tuple(x.shape)}, weight {tuple(w.shape)}, bias {None if b is None else tuple(b.shape)}"
        try:
            got = fn(x.clone(), w.clone(), None if b is None else b.clone())
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="linear_forward")) from None
        except Exception as err:  # a learner's bug: report it as feedback
            msg = str(err)
            if b is None:
                hint = "bias may be None (a layer built with bias=False): add it only when it is given"
            elif "shape" in msg or "size" in msg or "mat" in msg:
                hint = ("nn.Linear stores weight as (out_features, in_features), so the product is "
                        "x @ weight.T: (N, in) @ (in, out) -> (N, out)")
            else:
                hint = "compute x @ weight.T (+ bias)"
            raise CheckFailed(f"linear_forward raised {type(err).__name__}: {msg} ({desc}): {hint}") from None
        if got is None:
            raise CheckFailed(f"linear_forward returned None ({desc}): did you forget `return`?")
        a = _to_np(got).astype(np.float64)
        expected = F.linear(x, w, b).numpy()
        n, out = expected.shape
        if a.shape != expected.shape:
            if a.shape == (out, n):
                hint = "the result is (out, N): keep one row per input, i.e. x @ weight.T, not weight @ x.T"
            elif a.ndim == 1:
                hint = "keep the batch axis: the result has one row per input point, shape (N, out)"
            else:
                hint = "(N, in) @ (in, out) gives (N, out)"
            raise CheckFailed(f"linear_forward returned shape {a.shape} ({desc}), which is not right: {hint}")
        if np.allclose(a, expected):
            continue
        wt = (x @ w.T).numpy()
        bias = 0 if b is None else b.numpy()
        if b is not None and np.allclose(a, wt):
            hint = "the bias is missing: y = x @ weight.T + bias"
        elif w.shape[0] == w.shape[1] and np.allclose(a, (x @ w).numpy() + bias):
            hint = ("weight is stored (out_features, in_features) as in nn.Linear: multiply by its "
                    "transpose, x @ weight.T")
        elif b is not None and np.allclose(a, wt - bias):
            hint = "the bias is subtracted: y = x @ weight.T + bias"
        else:
            hint = "y[n, o] = sum over i of x[n, i] * weight[o, i], plus bias[o]"
        diff = float(np.abs(a - expected).max())
        raise CheckFailed(f"linear_forward gives wrong values ({desc}; largest difference {diff:.4g}): {hint}")
    passed("linear_forward")


# --------------------------------------------------------------------------- exercise 3
# A 640x480 colour image (3, 480, 640):
#   (a) flattened into nn.Linear(3*480*640, 1)
#   (b) nn.Conv2d(3, 8, kernel_size=5, stride=3)   (the windows do not tile the image: floor)
#   (c) (b), then nn.Flatten(), then nn.Linear(..., 1)
_K, _S = 5, 3
FC_PARAMS = 3 * 480 * 640 + 1                                          # 921,601
CONV_PARAMS = 3 * 8 * _K * _K + 8                                      # 608
_OUT_HW = ((480 - _K) // _S + 1, (640 - _K) // _S + 1)                 # (159, 212)
CONV_FEATURES = 8 * _OUT_HW[0] * _OUT_HW[1]                            # 269,664
TOTAL_PARAMS = CONV_PARAMS + CONV_FEATURES + 1                         # 270,273


def check_param_counts(fc_params: Any, conv_params: Any, total_params: Any) -> None:
    """The three parameter counts of exercise 3 (biases included, as PyTorch's defaults)."""
    for name, value in (("fc_params", fc_params), ("conv_params", conv_params), ("total_params", total_params)):
        if _not_answered(value):
            raise _stub(name)
    fc = _int(fc_params, "fc_params")
    if fc != FC_PARAMS:
        hints = {
            FC_PARAMS - 1: "add the one bias of the output",
            480 * 640 + 1: "a colour image has 3 values per pixel: 3 * 480 * 640 inputs",
            480 * 640: "a colour image has 3 values per pixel, and the output has a bias",
        }
        raise CheckFailed(f"fc_params is {fc:,}, which is not right: "
                          + hints.get(fc, "count the input values of one image first (every channel of every pixel), then the bias"))
    conv = _int(conv_params, "conv_params")
    if conv != CONV_PARAMS:
        hints = {
            CONV_PARAMS - 8: "add one bias per filter (8)",
            8 * _K * _K + 8: "each filter has as many channels as its input, not one",
            8 * _K * _K: "each filter has one slice per input channel, and each filter has a bias",
            3 * 8 * _K * _K + 3: "there is one bias per filter (per output channel), not per input channel",
        }
        raise CheckFailed(f"conv_params is {conv:,}, which is not right: "
                          + hints.get(conv, "count one filter's weights first (it spans every input channel), then the biases"))
    total = _int(total_params, "total_params")
    if total != TOTAL_PARAMS:
        stride1 = 8 * (480 - _K + 1) * (640 - _K + 1)
        divided = 8 * (480 // _S) * (640 // _S)                    # input / stride, or rounding up
        hints = {
            CONV_FEATURES + 1: "add the convolution's own parameters (conv_params)",
            CONV_FEATURES + CONV_PARAMS: "the Linear layer has a bias too",
            CONV_FEATURES + CONV_PARAMS - 8: "count the convolution's biases and the Linear bias",
            stride1 + 1 + CONV_PARAMS: ("the stride moves the filter several pixels at a time: the output map is "
                                         "much smaller than with stride 1"),
            CONV_FEATURES // 8 + 1 + CONV_PARAMS: ("the flattened output has one value per channel "
                                                   "and position: count all 8 channels"),
            divided + 1 + CONV_PARAMS: ("the filter must fit inside the image at every position: count only "
                                        "the positions where the whole 5x5 window fits, and round down"),
        }
        raise CheckFailed(f"total_params is {total:,}, which is not right: "
                          + hints.get(total, "trace the convolution's output shape first, then count what the "
                                             "Linear layer reads and adds"))
    passed("fc_params, conv_params and total_params")


# --------------------------------------------------------------------------- exercise 2: backward

def _backward_cases(hidden: bool) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    cases = [(r(5, 3), r(2, 3), r(5, 2)),      # x (N=5, in=3), weight (out=2, in=3), dout (N, out)
             (r(4, 3), r(3, 3), r(4, 3))]      # square weight: a transposed answer keeps the shape
    if hidden:
        cases += [(r(1, 6), r(4, 6), r(1, 4)), (r(8, 2), r(2, 2), r(8, 2))]
    return cases


def _grads(x: torch.Tensor, w: torch.Tensor, dout: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference: autograd through ``F.linear``."""
    x, w = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    b = torch.zeros(w.shape[0], dtype=w.dtype, requires_grad=True)
    F.linear(x, w, b).backward(dout)
    return x.grad.numpy(), w.grad.numpy(), b.grad.numpy()


def check_linear_backward(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(x, weight, dout) -> (dx, dweight, dbias)`` for ``y = x @ weight.T + bias``:
    ``x: (N, in), weight: (out, in), dout = dL/dy: (N, out)`` -> ``dx: (N, in), dweight: (out, in),
    dbias: (out,)``. Checked against autograd; no failure names the right values or shapes."""
    for x, w, dout in _backward_cases(hidden):
        desc = f"x {tuple(x.shape)}, weight {tuple(w.shape)}, dout {tuple(dout.shape)}"
        try:
            got = fn(x.clone(), w.clone(), dout.clone())
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="linear_backward")) from None
        except Exception as err:  # a learner's bug: report it as feedback
            raise CheckFailed(f"linear_backward raised {type(err).__name__}: {err} ({desc}): write down "
                              "the shape of each factor; (a, b) @ (b, c) needs the inner sizes to match") from None
        if got is None:
            raise CheckFailed(f"linear_backward returned None ({desc}): did you forget `return dx, dweight, dbias`?")
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailed(f"linear_backward should return three tensors (dx, dweight, dbias), got "
                              f"{type(got).__name__}{'' if not isinstance(got, (tuple, list)) else f' of length {len(got)}'}")
        dx, dw, db = (_to_np(v).astype(np.float64) for v in got)
        ex, ew, eb = _grads(x, w, dout)
        xn, wn, dn = x.numpy(), w.numpy(), dout.numpy()
        square = w.shape[0] == w.shape[1]
        # dx
        if dx.shape != ex.shape:
            hint = ("dx has the shape of x, one row per input: the forward used weight.T, so the backward "
                    "multiplies dout by weight without the transpose"
                    if dx.shape == (x.shape[0], w.shape[0]) else "dx has the shape of x")
            raise CheckFailed(f"dx has shape {dx.shape} ({desc}): {hint}")
        if not np.allclose(dx, ex):
            if square and np.allclose(dx, dn @ wn.T):
                hint = "the forward multiplied by weight.T, so dx multiplies dout by weight itself (no transpose)"
            elif np.allclose(dx, 0):
                hint = "dx is all zeros: y depends on x through the weight"
            else:
                hint = ("write y[n, o] for one element and ask which y's each x[n, i] reaches; check your dx against "
                        "autograd or a finite difference on a small example")
            raise CheckFailed(f"dx has wrong values ({desc}): {hint}")
        # dweight
        if dw.shape != ew.shape:
            hint = "dweight has the shape of weight, (out, in) as nn.Linear stores it"
            if dw.shape == (w.shape[1], w.shape[0]):
                hint = ("that is (in, out): dweight must have the shape of weight, (out, in); "
                        "transpose your product")
            raise CheckFailed(f"dweight has shape {dw.shape} ({desc}): {hint}")
        if not np.allclose(dw, ew):
            if square and np.allclose(dw, (xn.T @ dn)):
                hint = "that is the transpose: dweight has the layout of weight, (out, in)"
            elif np.allclose(dw, ew / x.shape[0]):
                hint = "divided by N: each image adds its own contribution, so sum over the batch, do not average"
            else:
                hint = ("ask which elements of y one weight[o, i] touches, then add their contributions; compare "
                        "with autograd on a small example")
            raise CheckFailed(f"dweight has wrong values ({desc}): {hint}")
        # dbias
        if db.shape != eb.shape:
            hint = "dbias has one value per output: the same bias is added to every row, so sum dout over the batch"
            if db.shape == tuple(dout.shape):
                hint = "dbias is dout itself: the bias is shared by all N rows, so sum dout over the batch axis"
            raise CheckFailed(f"dbias has shape {db.shape} ({desc}): {hint}")
        if not np.allclose(db, eb):
            if np.allclose(db, eb / x.shape[0]):
                hint = "that is the mean over the batch: the bias is added to every row, so the gradients add up (sum)"
            elif np.allclose(db, dn.sum(axis=1)[: len(db)]) and db.shape == eb.shape:
                hint = "summed over the wrong axis: sum over the batch (axis 0), one value per output"
            else:
                hint = "the bias is added to every row of y: sum dout over the batch"
            raise CheckFailed(f"dbias has wrong values ({desc}): {hint}")
    passed("linear_backward")
    print("  why: each gradient has the shape of what it differentiates; the transposes follow from the shapes.")


protect(globals())

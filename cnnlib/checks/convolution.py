"""Checks for the exercises of notebook 02 (convolution).

No message names the expected value: a wrong answer gets the mistake it looks like.

The reference answers come from :mod:`cnnlib.ops` and PyTorch; a wrong answer is compared
with the typical mistakes (a flipped kernel, i.e. true convolution; the stride ignored;
the ``+ 1`` of the output size forgotten or the size rounded up; windows that move by 1
instead of by the stride; in_channels taken for the number of filters; one feature map
per input channel; the weight axes in the wrong order; for two stacked kernels, the sizes
added without the overlap, multiplied, or taken as square) to say which one it looks like.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..ops.signal import convolve2d, correlate2d
from .core import NOT_IMPLEMENTED, CheckFailed, _to_np, numerical_gradient, passed, protect, relative_error  # noqa: F401 (re-exported for notebook 02)


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
                f"correlate2d_strided raised {type(err).__name__}: {err} ({desc}): check the range of your "
                "loops and the window indices against the image's size") from None
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
                              f"which is not the output size: {hint}")
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
            wrong = np.argwhere(~np.isclose(a, expected))
            hint = (f"{len(wrong)} of {a.size} outputs are wrong, the first at {tuple(int(v) for v in wrong[0])}: "
                    "check which window of the image that output reads, and that nothing else is added")
        raise CheckFailed(f"correlate2d_strided gives wrong values ({desc}): {hint}")
    passed("correlate2d_strided")


# --------------------------------------------------------------------------- exercise 2
# x: (8, 3, 33, 30) -> nn.Conv2d(3, 6, kernel_size=(5, 3), stride=2): a non-square kernel, and the
# floor matters on one axis only ((30 - 3) / 2 = 13.5).
CONV_INPUT = (8, 3, 33, 30)
CONV_KERNEL = (5, 3)
CONV_STRIDE = 2
CONV_OUT_SHAPE = (8, 6, (33 - 5) // 2 + 1, (30 - 3) // 2 + 1)
CONV_MAPS = 6
CONV_WEIGHT_SHAPE = (6, 3, 5, 3)


def _sizes(kernel: tuple[int, int], stride: int, rounding: str = "floor", plus_one: int = 1) -> tuple:
    """(H_out, W_out) of the exercise's input for a kernel/stride, or with a typical rounding mistake."""
    out = []
    for n, k in zip(CONV_INPUT[2:], kernel):
        q = (n - k) / stride
        q = {"floor": math.floor(q), "ceil": math.ceil(q), "none": q}[rounding]
        out.append(q + plus_one)
    return tuple(out)


def _shape(value: Any, what: str) -> tuple:
    try:
        return tuple(int(v) if float(v).is_integer() else v for v in value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} should be a tuple of sizes, got {value!r}") from None


def _stub(what: str) -> CheckFailed:
    return CheckFailed(NOT_IMPLEMENTED.format(what=what).replace(
        "replace the `raise NotImplementedError()` line", "replace the `...`"))


def check_conv_answers(out_shape: Any, num_feature_maps: Any, weight_shape: Any) -> None:
    """Output shape, number of feature maps and weight shape of ``nn.Conv2d(3, 6, (5, 3), stride=2)``
    on a batch of shape ``(8, 3, 33, 30)``."""
    for name, value in (("out_shape", out_shape), ("num_feature_maps", num_feature_maps),
                        ("weight_shape", weight_shape)):
        if value is None or value is ...:
            raise _stub(name)
    got = _shape(out_shape, "out_shape")
    n, c, h, w = CONV_OUT_SHAPE
    if got != CONV_OUT_SHAPE:
        spatial = got[2:] if len(got) == 4 else None
        if got == CONV_OUT_SHAPE[1:]:
            hint = "keep the batch axis: the output is (N, C_out, H_out, W_out)"
        elif len(got) != 4:
            hint = "the output has four axes (N, C_out, H_out, W_out)"
        elif got == (n, h, w, c):
            hint = "PyTorch puts the channels second: (N, C_out, H_out, W_out)"
        elif got[0] != n:
            hint = "a convolution does not change the batch size"
        elif got[1] == 3:
            hint = "the output has one channel per filter (out_channels), not one per input channel"
        elif got[1] == 18:
            hint = ("each filter already covers all 3 input channels and gives ONE map: "
                    "do not multiply by in_channels")
        elif got[1] != c:
            hint = "the output has one channel per filter (out_channels)"
        elif spatial == _sizes(CONV_KERNEL, 1):
            hint = "that is stride 1: with stride 2 the window moves 2 pixels at a time"
        elif spatial == _sizes(CONV_KERNEL[::-1], CONV_STRIDE):
            hint = "kernel_size=(5, 3) means kH = 5 (rows), kW = 3 (columns): the height comes first"
        elif spatial == _sizes(CONV_KERNEL, CONV_STRIDE, plus_one=0):
            hint = "one window is missing per axis: the +1 counts the first window"
        elif spatial == _sizes(CONV_KERNEL, CONV_STRIDE, "none"):
            hint = "sizes are whole numbers: round the division down, then add 1"
        elif spatial == _sizes(CONV_KERNEL, CONV_STRIDE, "ceil"):
            hint = "round down: a window that would stick out of the image is not computed"
        elif spatial is not None and spatial[::-1] == (h, w):
            hint = "height and width are swapped: the input is (N, C, H, W) with H = 33"
        else:
            hint = "work out each axis on its own: H_out from H and kH, W_out from W and kW"
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
        if got_w == (6, 5, 3):
            hint = "each filter has as many channels as its input: (out_channels, in_channels, kH, kW)"
        elif got_w == (3, 6, 5, 3):
            hint = "PyTorch stores the filters first: (out_channels, in_channels, kH, kW)"
        elif got_w == (6, 3, 3, 5):
            hint = "kernel_size=(5, 3) is (kH, kW): the height comes first"
        elif got_w == (5, 3, 3, 6):
            hint = "that is TensorFlow/Keras' (kH, kW, in, out) layout; PyTorch's is (out, in, kH, kW)"
        else:
            hint = "nn.Conv2d.weight has shape (out_channels, in_channels / groups, kH, kW)"
        raise CheckFailed(f"weight_shape is {got_w}, which is not right: {hint}")
    passed("out_shape, num_feature_maps and weight_shape")


# --------------------------------------------------------------------------- exercise 3
# Two bias-free one-channel correlations, F.conv2d(x, K1) then F.conv2d(., K2), on a
# (1, 1, 18, 25) input, with non-square K1 (5, 2) and K2 (3, 4): the single kernel K they
# amount to, and the spatial shape of the result.

STACK_INPUT = (18, 25)
STACK_K1 = (5, 2)
STACK_K2 = (3, 4)
STACK_KERNEL = tuple(a + b - 1 for a, b in zip(STACK_K1, STACK_K2))
STACK_OUT = tuple(n - k + 1 for n, k in zip(STACK_INPUT, STACK_KERNEL))


def check_stacked_kernel(kernel_shape: Any, z_shape: Any) -> None:
    """The shape ``(kH, kW)`` of the one kernel that ``F.conv2d(F.conv2d(x, K1), K2)`` equals,
    K1 of shape (5, 2), K2 of shape (3, 4), and the spatial shape ``(H, W)`` of the result
    on an input of spatial shape (18, 25)."""
    for name, value in (("kernel_shape", kernel_shape), ("z_shape", z_shape)):
        if value is None or value is ...:
            raise _stub(name)
    got = _shape(kernel_shape, "kernel_shape")
    if got != STACK_KERNEL:
        k1, k2 = STACK_K1, STACK_K2
        if len(got) != 2:
            hint = "give the kernel's (kH, kW): two numbers"
        elif got == tuple(a + b for a, b in zip(k1, k2)):
            hint = ("one too many per axis: the first tap of K2 reads a y whose rows K1 already "
                    "covers; count the rows of x that one output of z reaches back to")
        elif got == tuple(a * b for a, b in zip(k1, k2)):
            hint = "the sizes do not multiply: each extra tap of K2 moves the window by one pixel"
        elif got == tuple(max(a, b) for a, b in zip(k1, k2)):
            hint = "the combined kernel is larger than either: K2 reads a patch of outputs of K1"
        elif got[::-1] == STACK_KERNEL:
            hint = "height and width are swapped: (5, 2) means 5 rows, 2 columns"
        elif got[0] == got[1]:
            hint = ("the kernels are not square: work out the rows from the two heights and the "
                    "columns from the two widths, each axis on its own")
        else:
            hint = ("follow one output of the second layer back: which rows of y does it read, "
                    "and which rows of x do those read?")
        raise CheckFailed(f"kernel_shape is {got}, which is not right: {hint}")
    out = _shape(z_shape, "z_shape")
    if out != STACK_OUT:
        n = STACK_INPUT
        if len(out) == 4 and out[2:] == STACK_OUT:
            hint = "give the spatial shape (H, W) only, without the batch and channel axes"
        elif len(out) != 2:
            hint = "give the spatial shape (H, W): two numbers"
        elif out == tuple(a - k + 1 for a, k in zip(n, STACK_K1)):
            hint = "that is after the first layer only: the second one shrinks it again"
        elif out == tuple(a - k + 1 for a, k in zip(n, STACK_K2)):
            hint = "that is after the second kernel alone: the first layer shrinks the input first"
        elif out == tuple(a - b - c for a, b, c in zip(n, STACK_K1, STACK_K2)):
            hint = "each valid layer keeps n - k + 1 positions: the + 1 is missing (twice)"
        elif out == tuple(a - k for a, k in zip(n, STACK_KERNEL)):
            hint = "one position short per axis: a valid correlation keeps n - k + 1"
        elif out[::-1] == STACK_OUT:
            hint = "height and width are swapped: the input has 18 rows and 25 columns"
        else:
            hint = "apply the valid output size n - k + 1 once per layer (or once with your kernel_shape)"
        raise CheckFailed(f"z_shape is {out}, which is not right: {hint}")
    passed("kernel_shape and z_shape")


# --------------------------------------------------------------------------- exercise 4
# conv2d_backward(dout, x, w) for out = F.conv2d(x, w, b), stride 1, no padding.

def _backward_cases(hidden: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(4)
    shapes = [((2, 2, 5, 6), (3, 2, 3, 2))]
    if hidden:
        shapes += [((1, 1, 4, 4), (1, 1, 2, 2)), ((3, 3, 6, 5), (2, 3, 3, 3)), ((2, 1, 5, 5), (4, 1, 1, 1))]
    cases = []
    for xs, ws in shapes:
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
        out_shape = (xs[0], ws[0], xs[2] - ws[2] + 1, xs[3] - ws[3] + 1)
        cases.append((x, w, b, rng.standard_normal(out_shape)))
    return cases


def _dx_with(dout: np.ndarray, k: np.ndarray) -> np.ndarray:
    """dx[n, :, i + u, j + v] += dout[n, f, i, j] * k[f, :, u, v]: the right dx for k = w, a
    typical wrong one for k = w flipped."""
    n, _, ho, wo = dout.shape
    _, c, kh, kw = k.shape
    dx = np.zeros((n, c, ho + kh - 1, wo + kw - 1))
    for u in range(kh):
        for v in range(kw):
            dx[:, :, u:u + ho, v:v + wo] += np.einsum("nfij,fc->ncij", dout, k[:, :, u, v])
    return dx


def _factor_hint(got: np.ndarray, ref: np.ndarray) -> str | None:
    """'off by a factor of 2' when got is a constant multiple of ref (the factor is the learner's error)."""
    if not np.any(ref):
        return None
    ratio = float((got * ref).sum() / (ref * ref).sum())
    if abs(ratio - 1) > 1e-6 and np.allclose(got, ratio * ref):
        return f"the values are off by a constant factor of {ratio:.3g}: something is counted too often or too rarely"
    return None


def _where_hint(got: np.ndarray, ref: np.ndarray, name: str, what: str) -> str:
    wrong = ~np.isclose(got, ref)
    return (f"{int(wrong.sum())} of {wrong.size} {what} of {name} are wrong, the first at index "
            f"{tuple(int(v) for v in np.argwhere(wrong)[0])}: follow one such entry through the forward pass")


def check_conv2d_backward(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(dout, x, w) -> (dx, dw, db)``: the backward pass of ``out = F.conv2d(x, w, b)``
    (stride 1, no padding). ``x: (N, C, H, W), w: (F, C, kH, kW), dout: (N, F, H_out, W_out)``.

    Runs a numerical gradient check (central differences of ``sum(out * dout)``) and prints the
    relative error of each gradient; the reference is :func:`cnnlib.ops.im2col.conv2d_backward`.
    """
    from ..ops import im2col

    if not callable(fn):
        raise CheckFailed(f"conv2d_backward should be a function, got {type(fn).__name__}")
    for x, w, b, dout in _backward_cases(hidden):
        desc = f"x {x.shape}, w {w.shape}"
        try:
            got = fn(dout.copy(), x.copy(), w.copy())
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="conv2d_backward")) from None
        except Exception as err:  # a learner's bug: report it as feedback
            raise CheckFailed(f"conv2d_backward raised {type(err).__name__}: {err} ({desc})") from None
        if got is None:
            raise CheckFailed(f"conv2d_backward returned None ({desc}): did you forget `return`?")
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailed(f"conv2d_backward should return three arrays (dx, dw, db), got {type(got).__name__}")
        dx, dw, db = (_to_np(g).astype(np.float64) for g in got)
        out, cache = im2col.conv2d_forward(x, w, b)
        ref_dx, ref_dw, ref_db = im2col.conv2d_backward(dout, cache)
        for name, g, ref, like in (("dx", dx, ref_dx, "x"), ("dw", dw, ref_dw, "w"), ("db", db, ref_db, "b")):
            if g.shape != ref.shape:
                hint = {"db": "db has one entry per filter: sum dout over the batch and all positions",
                        "dw": "dw has the shape of w (F, C, kH, kW)",
                        "dx": "dx has the shape of x (N, C, H, W)"}[name]
                if name == "dw" and g.shape == ref.shape[1::-1] + ref.shape[2:]:
                    hint = "dw's first two axes are swapped: w is (F, C, kH, kW)"
                raise CheckFailed(f"{name} has shape {g.shape} ({desc}), not the shape of {like}: {hint}")
        # the numerical gradient check the learner can see: relative errors only, no values
        loss = lambda xx, ww, bb: float((im2col.conv2d_forward(xx, ww, bb)[0] * dout).sum())   # noqa: E731
        num = {"dx": numerical_gradient(lambda v: loss(v, w, b), x.copy()),
               "dw": numerical_gradient(lambda v: loss(x, v, b), w.copy()),
               "db": numerical_gradient(lambda v: loss(x, w, v), b.copy())}
        errors = {"dx": relative_error(dx, num["dx"]), "dw": relative_error(dw, num["dw"]),
                  "db": relative_error(db, num["db"])}
        print(f"numerical gradient check ({desc}): " + ", ".join(
            f"{k} ok (rel. error < 1e-7)" if v < 1e-7 else f"{k} rel. error {v:.1e} WRONG" for k, v in errors.items()))
        if errors["db"] >= 1e-7:
            if np.allclose(db, dout[0].sum(axis=(1, 2))):
                hint = "db is summed over the positions of the first image only: sum over the batch too"
            else:
                hint = _factor_hint(db, ref_db) or "which outputs did the bias b[f] contribute to?"
            raise CheckFailed(f"db is wrong ({desc}): {hint}")
        if errors["dw"] >= 1e-7:
            if np.allclose(dw * x.shape[0], ref_dw) or np.allclose(
                    dw, im2col.conv2d_backward(dout[:1], im2col.conv2d_forward(x[:1], w, b)[1])[1]):
                hint = "dw is not summed over the whole batch: every image uses the same weights"
            elif np.allclose(dw, ref_dw[:, :, ::-1, ::-1]):
                hint = "dw is flipped: dw[f, c, u, v] pairs dout[n, f, i, j] with x[n, c, i + u, j + v]"
            else:
                hint = _factor_hint(dw, ref_dw) or _where_hint(dw, ref_dw, "dw", "weights")
            raise CheckFailed(f"dw is wrong ({desc}): {hint}")
        if errors["dx"] >= 1e-7:
            if np.allclose(dx, _dx_with(dout, w[:, :, ::-1, ::-1])):
                hint = ("dx uses the kernel flipped: the pixel at offset (u, v) of a window was multiplied by "
                        "the weight at (u, v), so that same weight carries its gradient back")
            elif np.allclose(dx[:, :, : dout.shape[2], : dout.shape[3]], dout.sum(axis=1, keepdims=True)):
                hint = "dx needs the weights: each input pixel gets dout times the weight that multiplied it"
            else:
                kh, kw = w.shape[2:]
                inner = (slice(None), slice(None), slice(kh - 1, x.shape[2] - kh + 1), slice(kw - 1, x.shape[3] - kw + 1))
                if dx[inner].size and np.allclose(dx[inner], ref_dx[inner]):
                    hint = ("dx is right in the interior but wrong near the border: border pixels lie in fewer "
                            "windows; does your loop reach every window that covers them?")
                else:
                    hint = _factor_hint(dx, ref_dx) or _where_hint(dx, ref_dx, "dx", "pixels")
            raise CheckFailed(f"dx is wrong ({desc}): {hint}")
    passed("conv2d_backward")
    print("why: the backward pass of a convolution is again a convolution: dw is the cross-correlation of "
          "the input with dout, dx the full cross-correlation of dout with the kernel rotated by 180 degrees.")


protect(globals())

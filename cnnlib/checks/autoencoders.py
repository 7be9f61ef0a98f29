"""Checks for the exercises of notebook 12 (autoencoders, transposed convolution, upsampling)."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .core import NOT_IMPLEMENTED, CheckFailed, check_cases, expect_close, expect_true, passed, protect


def _reference_size(h: int, k: int, s: int = 1, p: int = 0, op: int = 0, d: int = 1) -> int:
    return (h - 1) * s - 2 * p + d * (k - 1) + op + 1


_SIZE_CASES = [  # (h_in, kernel_size, stride, padding, output_padding, dilation)
    (14, 4, 2, 1, 0, 1),   # 14 -> 28 with a 4x4 kernel
    (7, 3, 2, 1, 1, 1),    # 7 -> 14, the usual decoder step with a 3x3 kernel
    (5, 3, 1, 0, 0, 1),    # stride 1, no padding: 5 -> 7
    (4, 3, 2, 0, 0, 1),    # 4 -> 9
    (3, 3, 1, 0, 0, 2),    # dilation 2: 3 -> 7
    (6, 5, 3, 2, 2, 1),
]
_HIDDEN_SIZE_CASES = [(1, 1, 1, 0, 0, 1), (10, 2, 2, 0, 1, 1), (8, 3, 3, 1, 2, 2), (2, 7, 1, 3, 0, 1)]


def _diagnose_size(args: tuple, kwargs: dict, got: Any, expected: int) -> str | None:
    h, k, s, p, op, d = args
    if not isinstance(got, int) or isinstance(got, bool):
        return f"return an int (the output height), not a {type(got).__name__}"
    candidates = [
        (_reference_size(h, k, s, p, 0, d), op != 0,
         "output_padding seems to be missing: it adds output_padding rows at the bottom, "
         "so add it once (not twice: it is one-sided)"),
        (_reference_size(h, k, s, p, 2 * op, d), op != 0,
         "output_padding is added on one side only: add output_padding, not 2*output_padding"),
        (_reference_size(h, k, s, p, op, 1), d != 1,
         "dilation seems to be ignored: a dilated kernel spans dilation*(kernel_size-1)+1 pixels"),
        (_reference_size(h, k, s, -p, op, d), p != 0,
         "padding goes the other way here: a transposed convolution *removes* 2*padding "
         "pixels (it undoes the padding of the matching convolution)"),
        (h * s - 2 * p + d * (k - 1) + op + 1, True,
         "the input contributes (h_in - 1)*stride, not h_in*stride: the first pixel sits at 0, "
         "the last at (h_in - 1)*stride"),
        (_reference_size(h, k, s, p, op, d) - 1, True,
         "off by one: the formula ends with + 1 (one pixel of the last window)"),
    ]
    if s > 0:
        conv = (h + 2 * p - d * (k - 1) - 1) // s + 1
        candidates.insert(0, (conv, True,
                              "that is the *convolution* formula (it shrinks the input); a transposed "
                              "convolution goes the other way: H_out = (H_in-1)*stride - 2*padding "
                              "+ dilation*(kernel_size-1) + output_padding + 1"))
    for value, applies, hint in candidates:
        if applies and got == value and value != expected:
            return hint
    return None


def check_transposed_size(fn: Callable[..., int], hidden: bool = False) -> None:
    """``fn(h_in, kernel_size, stride, padding, output_padding, dilation) -> h_out`` of
    ``nn.ConvTranspose2d``; every case is also checked against PyTorch itself."""
    cases = _SIZE_CASES + (_HIDDEN_SIZE_CASES if hidden else [])
    for case in cases:
        expected = _reference_size(*case)
        h, k, s, p, op, d = case
        torch_out = torch.nn.functional.conv_transpose2d(
            torch.zeros(1, 1, h, h), torch.zeros(1, 1, k, k), stride=s, padding=p, output_padding=op, dilation=d)
        assert torch_out.shape[-1] == expected, (case, torch_out.shape)  # the reference itself
    got_stub = None
    try:
        got_stub = fn(*cases[0])
    except NotImplementedError:
        raise CheckFailed(NOT_IMPLEMENTED.format(what="transposed_size")) from None
    if got_stub is ... or got_stub is None:
        raise CheckFailed(NOT_IMPLEMENTED.format(what="transposed_size") +
                          " (the function returned nothing: did you forget `return`?)")
    check_cases(fn, [(case, {}, _reference_size(*case)) for case in cases], "transposed_size",
                diagnose=_diagnose_size,
                compare=lambda got, exp: isinstance(got, int) and not isinstance(got, bool) and got == exp)
    passed("transposed_size")


def check_upsample2x(fn: Callable[[torch.Tensor], torch.Tensor], hidden: bool = False) -> None:
    """``fn(x)``: nearest-neighbour 2x upsampling ``(N, C, H, W) -> (N, C, 2H, 2W)`` with
    tensor operations, compared with ``F.interpolate(x, scale_factor=2, mode="nearest")``."""
    shapes = [(1, 1, 2, 2), (2, 3, 3, 5)] + ([(1, 2, 1, 4), (3, 1, 7, 7)] if hidden else [])
    real_interpolate = F.interpolate
    for shape in shapes:
        x = torch.arange(torch.Size(shape).numel(), dtype=torch.float32).reshape(shape)
        expected = real_interpolate(x, scale_factor=2, mode="nearest")

        def no_interpolate(*args: Any, **kwargs: Any) -> torch.Tensor:
            raise CheckFailed("upsample2x should use tensor operations (repeat_interleave, indexing, "
                              "expand + reshape), not F.interpolate / nn.Upsample: the point is to see "
                              "what they do")

        F.interpolate = no_interpolate
        try:
            got = fn(x.clone())
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="upsample2x")) from None
        finally:
            F.interpolate = real_interpolate
        if got is ... or got is None:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="upsample2x") +
                              " (the function returned nothing: did you forget `return`?)")
        expect_true(isinstance(got, torch.Tensor), f"upsample2x should return a tensor, got a {type(got).__name__}")
        n, c, h, w = shape
        if tuple(got.shape) != tuple(expected.shape):
            hint = ""
            if tuple(got.shape) == (n, c, 2 * h, w):
                hint = ": only the rows were doubled; repeat along the width (dim=3) too"
            elif tuple(got.shape) == (n, c, h, 2 * w):
                hint = ": only the columns were doubled; repeat along the height (dim=2) too"
            elif tuple(got.shape) in ((2 * n, c, h, w), (n, 2 * c, h, w)) or got.numel() == 2 * x.numel():
                hint = ": the repetition went along the wrong axis; H is dim=2 and W is dim=3"
            raise CheckFailed(f"upsample2x of shape {shape} returned shape {tuple(got.shape)}, "
                              f"expected {tuple(expected.shape)}{hint}")
        if torch.equal(got, x.repeat(1, 1, 2, 2)) and not torch.equal(got, expected):
            raise CheckFailed(f"upsample2x of shape {shape} tiles the whole image 2x2 (x.repeat) instead of "
                              "repeating every pixel into a 2x2 block: use x.repeat_interleave(2, dim=2)"
                              ".repeat_interleave(2, dim=3)")
        expect_close(got, expected, f"upsample2x(x) for x of shape {shape}", atol=0, rtol=0,
                     hint="each input pixel x[..., i, j] should fill the 2x2 block out[..., 2i:2i+2, 2j:2j+2]")
    passed("upsample2x")


def overlap_counts_1d(length: int, kernel_size: int, stride: int) -> list[int]:
    """How many input positions write to each output position of a 1-D transposed
    convolution with no padding: ``length`` inputs -> ``(length-1)*stride + kernel_size`` outputs."""
    out = F.conv_transpose1d(torch.ones(1, 1, length), torch.ones(1, 1, kernel_size), stride=stride)
    return [int(v) for v in out.flatten().round().tolist()]


def check_overlap_counts(answer: Any, hidden: bool = False) -> None:
    """The overlap counts of a 1-D transposed convolution, kernel 3, stride 2, no padding, on 4 inputs."""
    if answer is ... or answer is None:
        raise CheckFailed(NOT_IMPLEMENTED.format(what="overlap").replace(
            "replace the `raise NotImplementedError()` line", "replace `...`"))
    expected = overlap_counts_1d(4, 3, 2)
    try:
        got = [int(v) for v in answer]
    except (TypeError, ValueError):
        raise CheckFailed(f"overlap should be a list of integers, got {answer!r}") from None
    if got == expected:
        passed("overlap")
        return
    if len(got) != len(expected):
        hint = (f"overlap has {len(got)} entries, expected {len(expected)}: the output length is "
                f"(4 - 1)*2 + 3 = {len(expected)} (the transposed-convolution formula with padding 0)")
        if len(got) == 1:
            hint += "; 1 entry is the convolution formula's answer (the convolution shrinks, this grows)"
        raise CheckFailed(hint)
    if all(v == 1 for v in got):
        raise CheckFailed(f"overlap is {got}: with kernel 3 and stride 2 neighbouring windows overlap by "
                          "3 - 2 = 1 position, so some outputs receive two inputs")
    if len(set(got[2:-2])) == 1:
        raise CheckFailed(f"overlap is {got}: the middle counts are all equal, which is the pattern of an "
                          "even kernel (4, stride 2); with kernel 3 the overlaps alternate")
    if sum(got) != 4 * 3:
        raise CheckFailed(f"overlap is {got}, which adds up to {sum(got)}: each of the 4 inputs writes to 3 "
                          "outputs, so the counts add up to 12")
    raise CheckFailed(f"overlap is {got}, expected other counts. Place a window of 3 ones at positions "
                      "0, 2, 4 and 6 and count, for every output position, how many windows cover it")


protect(globals())

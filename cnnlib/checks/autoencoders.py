"""Checks for the exercises of notebook 12 (autoencoders, transposed convolution, upsampling)."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .core import NOT_IMPLEMENTED, CheckFailed, check_cases, expect_close, expect_true, passed, protect


def _reference_size(h: int, k: int, s: int = 1, p: int = 0, op: int = 0, d: int = 1) -> int:
    return (h - 1) * s - 2 * p + d * (k - 1) + op + 1


def _reference_padding(h_out: int, h_in: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int | None:
    op = h_out - _reference_size(h_in, k, s, p, 0, d)
    return op if 0 <= op < max(s, d) else None


_PADDING_CASES = [  # (h_out, h_in, kernel_size, stride, padding, dilation)
    (28, 14, 3, 2, 1, 1),   # the usual decoder step with a 3x3 kernel
    (28, 14, 4, 2, 1, 1),
    (15, 7, 3, 2, 0, 1),
    (30, 14, 3, 2, 1, 1),   # too large for any allowed output_padding
    (26, 14, 3, 2, 1, 1),   # too small: output_padding cannot be negative
    (10, 3, 3, 3, 1, 2),
]
_HIDDEN_PADDING_CASES = [(11, 3, 3, 3, 1, 2), (12, 3, 3, 3, 1, 2), (10, 5, 2, 1, 0, 3), (1, 1, 1, 1, 0, 1),
                         (8, 5, 2, 1, 0, 3), (57, 28, 3, 2, 1, 1)]


def _torch_sizes(h_in: int, k: int, s: int, p: int, d: int) -> dict[int, int]:
    """output_padding -> output size, for every output_padding PyTorch accepts."""
    sizes = {}
    for op in range(max(s, d)):
        out = F.conv_transpose2d(torch.zeros(1, 1, h_in, h_in), torch.zeros(1, 1, k, k), stride=s, padding=p,
                                 output_padding=op, dilation=d)
        sizes[op] = out.shape[-1]
    return sizes


def _diagnose_padding(args: tuple, kwargs: dict, got: Any, expected: int | None) -> str | None:
    h_out, h_in, k, s, p, d = args
    raw = h_out - _reference_size(h_in, k, s, p, 0, d)
    if got is not None and (not isinstance(got, int) or isinstance(got, bool)):
        return f"return an int or None, not a {type(got).__name__}"
    conv_op = h_out - ((h_in + 2 * p - d * (k - 1) - 1) // s + 1)
    if got == conv_op and got != raw:
        return ("that starts from the *convolution* formula (it shrinks the input); use the transposed one: "
                "(H_in-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1")
    if expected is None and got == raw:
        return ("that value is outside what PyTorch accepts (0 <= output_padding < max(stride, dilation)): "
                "when no allowed value gives h_out, return None")
    if expected is None:
        return "no allowed output_padding reaches this h_out: return None"
    if got is None and s <= raw < d:
        return ("an allowed value exists here: the upper limit is max(stride, dilation), not stride alone "
                "(PyTorch's rule)")
    if got is None:
        return "an allowed value exists here: compare h_out with the size that output_padding=0 gives"
    if got == -raw:
        return "the sign is flipped: output_padding = h_out - (the size with output_padding = 0)"
    if got == raw + 1 or got == raw - 1:
        return "off by one: check the + 1 at the end of the size formula"
    return "start from the size with output_padding = 0 (section 2.1) and add what is missing"


def check_output_padding(fn: Callable[..., int | None], hidden: bool = False) -> None:
    """``fn(h_out, h_in, kernel_size, stride, padding, dilation)``: the ``output_padding`` of
    ``nn.ConvTranspose2d`` that maps ``h_in`` to ``h_out``, or ``None`` if no allowed value does;
    every case is also checked against PyTorch itself."""
    cases = _PADDING_CASES + (_HIDDEN_PADDING_CASES if hidden else [])
    for h_out, h_in, k, s, p, d in cases:   # the reference, against the real layer
        reached = [op for op, size in _torch_sizes(h_in, k, s, p, d).items() if size == h_out]
        assert reached == ([] if _reference_padding(h_out, h_in, k, s, p, d) is None
                           else [_reference_padding(h_out, h_in, k, s, p, d)])
    try:
        first = fn(*cases[0])
    except NotImplementedError:
        raise CheckFailed(NOT_IMPLEMENTED.format(what="output_padding_for")) from None
    if first is ...:
        raise CheckFailed(NOT_IMPLEMENTED.format(what="output_padding_for") +
                          " (the function returned `...`: did you forget `return`?)")
    check_cases(fn, [(case, {}, _reference_padding(*case)) for case in cases], "output_padding_for",
                diagnose=_diagnose_padding,
                compare=lambda got, exp: (got is None and exp is None) or
                (isinstance(got, int) and not isinstance(got, bool) and got == exp))
    passed("output_padding_for")


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
            raise CheckFailed(f"upsample2x of shape {shape} returned shape {tuple(got.shape)}: the output should "
                              f"be twice as high and twice as wide, with the same N and C{hint}")
        if torch.equal(got, x.repeat(1, 1, 2, 2)) and not torch.equal(got, expected):
            raise CheckFailed(f"upsample2x of shape {shape} tiles the whole image 2x2 (x.repeat) instead of "
                              "repeating every pixel into a 2x2 block: each pixel must be copied next to itself, along both axes")
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

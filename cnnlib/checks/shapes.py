"""Checks for the exercises of notebook 03 (padding, stride, output sizes, parameter
counts, receptive fields).

Each check recomputes the right answer and, when the learner's answer is wrong, tries
the typical wrong formulas one by one to name the mistake (stride ignored, padding
counted on one side only, dilation ignored, no floor, ...).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

from .core import NOT_IMPLEMENTED, CheckFailed, check_cases, expect_true, passed, protect

NOT_SET = ("{what} is not implemented yet: replace the `...` (and the `raise NotImplementedError()` line) "
           "with your answer and run the cell again.")

# (n, k, s, p, d) -> expected output size. Visible cases go from the simplest (no padding,
# stride 1) to the general one, so that a basic mistake is named before a subtle one.
_CONV_CASES = [
    (5, 3, 1, 0, 1),      # 3: the notes' 5x5 image, 3x3 filter
    (7, 3, 1, 0, 1),      # 5
    (4, 3, 1, 1, 1),      # 4: the notes' 3x4x4 input, 3x3x3 filter, p=1, s=1
    (28, 3, 2, 1, 1),     # 14
    (8, 3, 2, 0, 1),      # 3: (8 - 3)/2 + 1 = 3.5 without the floor
    (9, 3, 1, 0, 2),      # 5: a dilated 3x3 kernel spans 5 pixels
    (224, 11, 4, 2, 1),   # 55: AlexNet's first layer
]
_CONV_HIDDEN = [
    (10, 3, 3, 1, 2),     # 3
    (32, 5, 1, 2, 1),     # 32: "same" padding
    (13, 3, 2, 1, 3),     # 5
    (6, 2, 2, 0, 1),      # 3
    (15, 4, 3, 2, 2),     # 4
]


def conv_out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Reference: ``floor((n + 2p - d(k-1) - 1)/s) + 1`` (the nn.Conv2d docs)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# Typical wrong formulas, most specific first, each with the hint that names the mistake.
_CONV_MISTAKES: list[tuple[Callable[..., float], str]] = [
    (lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) / s + 1,
     "no floor: when the last window does not fit, PyTorch drops it; use // (floor division)"),
    (lambda n, k, s, p, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1,
     "this rounds up; PyTorch rounds down (floor), dropping a window that does not fit: use //"),
    (lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) + 1,
     "the stride seems to be ignored: divide the span by s before adding 1"),
    (lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1,
     "the padding seems to be counted once: it is added on both sides, so 2*p"),
    (lambda n, k, s, p, d: (n + 2 * p - k) // s + 1,
     "the dilation seems to be ignored: a dilated kernel spans d*(k-1) + 1 pixels"),
    (lambda n, k, s, p, d: (n + 2 * p - d * k) // s + 1,
     "a dilated kernel spans d*(k-1) + 1 pixels, not d*k (the gaps lie only between taps)"),
    (lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s,
     "off by one: the first window counts too, so add 1 after dividing by the stride"),
    (lambda n, k, s, p, d: (n - 2 * p - d * (k - 1) - 1) // s + 1,
     "padding makes the input larger: add 2*p, do not subtract it"),
]


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _diagnose_conv(args: tuple, kwargs: dict, got: Any, expected: int) -> str | None:
    if got is None:
        return "the function returned None: did you forget `return`?"
    if isinstance(got, (tuple, list)):
        return "return one int (the size along one axis), not a tuple"
    if isinstance(got, float) and float(got).is_integer() and int(got) == expected:
        return ("right value but a float: output sizes are whole numbers, and `/` gives floats "
                "(3.5 for n=8, k=3, s=2, p=0: no floor); use // (floor division)")
    for wrong, hint in _CONV_MISTAKES:
        try:
            value = wrong(*args)
        except ZeroDivisionError:  # pragma: no cover - strides are >= 1
            continue
        if value != expected and isinstance(got, numbers.Real) and math.isclose(got, value):
            return hint
    return "compare with floor((n + 2*p - d*(k - 1) - 1) / s) + 1 from the nn.Conv2d docs"


def check_conv_output_size(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(n, k, s, p, d)``: output size of a convolution along one axis.

    Checked on the notes' examples and, with ``hidden``, on more settings; a wrong answer
    names the likely mistake.
    """
    if not callable(fn):
        raise CheckFailed(f"conv_output_size should be a function, got {type(fn).__name__}")
    cases = _CONV_CASES + (_CONV_HIDDEN if hidden else [])
    check_cases(fn, [(c, {}, conv_out(*c)) for c in cases], "conv_output_size",
                diagnose=_diagnose_conv, compare=lambda got, exp: _is_int(got) and got == exp)
    passed("conv_output_size")


def _answer_int(answer: Any, what: str) -> int:
    if answer is None or answer is ...:
        raise CheckFailed(NOT_SET.format(what=what))
    if isinstance(answer, float) and answer.is_integer():
        answer = int(answer)
    expect_true(_is_int(answer), f"{what} should be a whole number (an int), got {answer!r}")
    return int(answer)


# nn.Conv2d(32, 96, kernel_size=5) and the same with groups=4.
_C_IN, _C_OUT, _K, _GROUPS = 32, 96, 5, 4
PARAMS_PLAIN = _K * _K * _C_IN * _C_OUT + _C_OUT                  # 76,896
PARAMS_GROUPED = _K * _K * (_C_IN // _GROUPS) * _C_OUT + _C_OUT   # 19,296


def check_conv_params(params_plain: Any, params_grouped: Any) -> None:
    """Parameter counts of ``nn.Conv2d(32, 96, 5)`` and ``nn.Conv2d(32, 96, 5, groups=4)``."""
    plain = _answer_int(params_plain, "params_plain")
    weights = _K * _K * _C_IN * _C_OUT
    plain_hints = {
        weights: "that is the weight only: every filter also has one bias (bias=True by default)",
        _K * _K * _C_OUT + _C_OUT: f"each filter has one {_K}x{_K} slice per input channel: multiply by C_in = {_C_IN}",
        _K * _C_IN * _C_OUT + _C_OUT: f"the kernel is {_K}x{_K}: k*k = {_K * _K} weights per slice, not {_K}",
        weights + _C_IN: f"there is one bias per filter (output channel, {_C_OUT}), not per input channel",
        weights + _C_IN * _C_OUT: f"one bias per filter: C_out = {_C_OUT} biases",
    }
    if plain != PARAMS_PLAIN:
        raise CheckFailed(f"params_plain is {plain:,}, expected {PARAMS_PLAIN:,}: " + plain_hints.get(
            plain, "use k*k*C_in*C_out + C_out and check it with count_params(nn.Conv2d(32, 96, 5))"))
    grouped = _answer_int(params_grouped, "params_grouped")
    grouped_hints = {
        PARAMS_PLAIN: f"groups={_GROUPS} is ignored: each filter sees only C_in/groups = {_C_IN // _GROUPS} input channels",
        PARAMS_GROUPED - _C_OUT: f"that is the weight only: the {_C_OUT} filters still have one bias each",
        PARAMS_PLAIN // _GROUPS: f"the biases are not divided by groups: each of the {_C_OUT} filters keeps its own bias",
        _K * _K * (_C_IN // _GROUPS) * (_C_OUT // _GROUPS) + _C_OUT // _GROUPS:
            f"that is one group only: there are {_GROUPS} groups of {_C_OUT // _GROUPS} filters each, add them all",
        _K * _K * (_C_IN // _GROUPS) * (_C_OUT // _GROUPS) + _C_OUT:
            f"each filter has {_C_IN // _GROUPS} input slices, and there are {_C_OUT} filters in all",
    }
    if grouped != PARAMS_GROUPED:
        raise CheckFailed(f"params_grouped is {grouped:,}, expected {PARAMS_GROUPED:,}: " + grouped_hints.get(
            grouped, "weights are k*k*(C_in/groups)*C_out, plus C_out biases"))
    passed("conv parameter counts")


# conv3 -> maxpool2 -> conv3 -> maxpool2 -> conv3 (all stride 1 convs, pools stride 2).
RF_LAYERS = [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)]


def _rf(layers: list[tuple[int, int]], mode: str = "right") -> int:
    size, jump = 1, 1
    for k, s in layers:
        if mode == "no_jump":
            size += k - 1
        elif mode == "no_pool":
            size += (k - 1) * jump if s == 1 else 0
            continue
        elif mode == "pool_no_size":
            size += (k - 1) * jump if s == 1 else 0
            jump *= s
            continue
        elif mode == "late_jump":
            jump *= s
            size += (k - 1) * jump
            continue
        else:
            size += (k - 1) * jump
        jump *= s
    return size


RF_EXPECTED = _rf(RF_LAYERS)   # 18


def check_receptive_field(answer: Any) -> None:
    """Receptive field of conv3 -> maxpool2 -> conv3 -> maxpool2 -> conv3 (one side, in pixels)."""
    got = _answer_int(answer, "rf")
    if got == RF_EXPECTED:
        passed("receptive field")
        return
    hints = {
        _rf(RF_LAYERS, "no_jump"): "after a stride-2 layer one step of the kernel moves 2 input pixels "
                                   "(4 after two): add (k - 1) * jump, with jump = product of the strides so far",
        _rf(RF_LAYERS, "no_pool"): "the pooling layers are ignored: a 2x2 pooling window widens the field too, "
                                   "and its stride doubles every later step",
        _rf(RF_LAYERS, "pool_no_size"): "a 2x2 pooling window also widens the field by (2 - 1) * jump",
        _rf(RF_LAYERS, "late_jump"): "use the jump from *before* the layer: a layer's own stride only "
                                     "affects the layers after it",
        sum(k for k, _ in RF_LAYERS): "receptive fields do not just add kernel sizes: add (k - 1) * jump per layer",
    }
    raise CheckFailed(f"rf is {got}, expected {RF_EXPECTED}: " + hints.get(
        got, "start from size 1, jump 1; per layer: size += (k - 1) * jump, then jump *= stride; "
             "check with cnnlib.shapes.receptive_field"))


protect(globals())

"""Checks for the exercises of notebook 03 (padding, stride, output sizes, parameter
counts, receptive fields).

Each check recomputes the right answer and, when the learner's answer is wrong, tries
the typical wrong formulas one by one to name the mistake (stride ignored, padding
counted on one side only, dilation ignored, no floor, ...). No message names the
expected value: it says what the learner's answer implies and which mistake it looks like.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

from ..shapes import receptive_field
from .core import NOT_IMPLEMENTED, CheckFailed, expect_true, passed, protect

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
    return ("check each term against the nn.Conv2d docs' formula: the padding, the kernel's span, "
            "the stride, the floor and the first window")


def check_conv_output_size(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(n, k, s, p, d)``: output size of a convolution along one axis.

    Checked on the notes' examples and, with ``hidden``, on more settings; a wrong answer
    names the likely mistake.
    """
    if not callable(fn):
        raise CheckFailed(f"conv_output_size should be a function, got {type(fn).__name__}")
    for case in _CONV_CASES + (_CONV_HIDDEN if hidden else []):
        expected = conv_out(*case)
        got = _call(fn, "conv_output_size", case)
        if not (_is_int(got) and got == expected):
            n, k, s, p, d = case
            raise CheckFailed(f"conv_output_size(n={n}, k={k}, s={s}, p={p}, d={d}) returned {got!r}, which is not "
                              f"the size nn.Conv2d gives: " + _diagnose_conv(case, {}, got, expected))
    passed("conv_output_size")


def _call(fn: Callable[..., Any], what: str, args: tuple) -> Any:
    from .core import plain

    try:
        return plain(fn(*args))
    except NotImplementedError:
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what)) from None
    except Exception as err:  # a learner's bug: report it as feedback
        raise CheckFailed(f"{what}{args} raised {type(err).__name__}: {err}") from None


# ---------------------------------------------------------------- exercise 1: the padding for a size
# (n, k, n_out, s, d) -> the smallest padding p >= 0 with conv_out(n, k, s, p, d) == n_out, or None.
_PAD_CASES = [
    (28, 5, 28, 1, 1),     # "same" for a 5x5 kernel
    (32, 3, 16, 2, 1),     # a stride-2 3x3 that halves the size
    (10, 3, 9, 1, 1),      # impossible: 2p would have to be odd
    (9, 3, 9, 1, 2),       # dilation 2: the kernel spans 5
    (10, 3, 6, 1, 1),      # impossible: even p = 0 gives more
    (224, 7, 112, 2, 1),   # a 7x7 stride-2 stem
]
_PAD_HIDDEN = [(13, 4, 13, 1, 1), (6, 2, 3, 2, 1), (8, 3, 5, 2, 1), (5, 5, 1, 1, 1), (20, 3, 7, 3, 2),
               (15, 3, 15, 1, 3), (31, 5, 10, 3, 1), (10, 3, 4, 3, 1)]   # the last: p = 1 and 2 both work


def padding_for_reference(n: int, k: int, n_out: int, s: int = 1, d: int = 1) -> int | None:
    """The smallest p >= 0 with ``conv_out(n, k, s, p, d) == n_out``, or None (by trying every p)."""
    for p in range(0, n_out * s + d * k + 1):
        if d * (k - 1) + 1 <= n + 2 * p and conv_out(n, k, s, p, d) == n_out:
            return p
    return None


def _diagnose_padding(case: tuple, got: Any, expected: int | None) -> str:
    n, k, n_out, s, d = case
    if got is None:
        return ("there is a padding that gives this output size: look for the smallest p >= 0 with "
                "floor((n + 2p - d(k-1) - 1) / s) + 1 == n_out")
    if isinstance(got, float) and not got.is_integer():
        return "padding is a whole number of pixels: a p with a fraction does not exist (round, then check)"
    if isinstance(got, float) and expected is not None and got == expected:
        return "a whole number, but a float: return an int (`/` gives floats; use // or int())"
    if not _is_int(got) and not (isinstance(got, float) and got.is_integer()):
        return "return an int (the padding on each side) or None"
    got = int(got)
    if got < 0:
        return "a padding cannot be negative: when even p = 0 gives a larger output, no padding works"
    span = d * (k - 1) + 1
    if span > n + 2 * got:
        return f"with padding {got} the kernel (spanning {span} pixels) does not even fit"
    size = conv_out(n, k, s, got, d)
    if size == n_out:
        return (f"padding {got} gives the right size, but a smaller padding does too: the floor of the "
                "division by the stride lets several paddings give the same size; return the smallest")
    hint = f"with padding {got} the output has size {size}, not {n_out}"
    if got == k // 2 and (s != 1 or n_out != n):
        hint += ": k // 2 is the 'same' rule, for stride 1 and n_out = n only"
    elif d > 1 and k + 2 * got <= n + 2 * got and conv_out(n, k, s, got, 1) == n_out:
        hint += ": the dilation seems to be ignored (the kernel spans d*(k-1) + 1 pixels)"
    elif s > 1 and (n + 2 * got - span) + 1 == n_out:
        hint += ": the stride seems to be ignored"
    elif expected is None:
        hint += "; check whether any whole-number padding gives exactly that size"
    else:
        hint += "; solve the output-size formula for p, round to a whole number and check the result"
    return hint


def check_padding_for(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(n, k, n_out, s, d)``: the smallest padding ``p >= 0`` for which ``nn.Conv2d`` (kernel ``k``,
    stride ``s``, dilation ``d``) turns size ``n`` into ``n_out``, or ``None`` if no padding does."""
    if not callable(fn):
        raise CheckFailed(f"padding_for should be a function, got {type(fn).__name__}")
    for case in _PAD_CASES + (_PAD_HIDDEN if hidden else []):
        expected = padding_for_reference(*case)
        got = _call(fn, "padding_for", case)
        right = got is None if expected is None else (_is_int(got) and got == expected)
        if not right:
            n, k, n_out, s, d = case
            raise CheckFailed(f"padding_for(n={n}, k={k}, n_out={n_out}, s={s}, d={d}) returned {got!r}: "
                              + _diagnose_padding(case, got, expected))
    passed("padding_for")
    print("why: the floor in the size formula makes the answer a range of paddings for strides > 1, "
          "and for stride 1 it exists only when n_out - n + k_eff - 1 is even.")


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
        raise CheckFailed(f"params_plain is {plain:,}, which is not right: " + plain_hints.get(
            plain, "count the weights of one filter (one k x k slice per input channel), times the number "
                   "of filters, plus one bias per filter"))
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
        raise CheckFailed(f"params_grouped is {grouped:,}, which is not right: " + grouped_hints.get(
            grouped, "each filter now has C_in/groups input slices; the number of filters and of biases "
                     "does not change"))
    passed("conv parameter counts")


# conv3 -> maxpool3 (stride 2) -> conv3 -> maxpool2 (stride 2) -> conv3 with dilation 2.
# (kind, kernel, stride, dilation)
RF_LAYERS = [("conv", 3, 1, 1), ("pool", 3, 2, 1), ("conv", 3, 1, 1), ("pool", 2, 2, 1), ("conv", 3, 1, 2)]


def _rf(layers: list[tuple[str, int, int, int]], mode: str = "right") -> int:
    """The receptive field by the rule of notebook 03, or by one of its typical misreadings."""
    size, jump = 1, 1
    for kind, k, s, d in layers:
        k_eff = {"no_dilation": k, "d_times_k": d * k}.get(mode, d * (k - 1) + 1)
        if mode == "no_pool" and kind == "pool":
            continue
        if mode == "late_jump":
            jump *= s
        if mode == "no_jump":
            size += k_eff - 1
        elif not (mode == "pool_no_size" and kind == "pool"):
            size += (k_eff - 1) * jump
        if mode != "late_jump":
            jump *= s
    return size


RF_EXPECTED = _rf(RF_LAYERS)   # the same as cnnlib.shapes.receptive_field (tested)
_RF_HINTS = [
    ("no_jump", "after a stride-2 layer one step of the kernel moves 2 input pixels (4 after two): "
                "add (k_eff - 1) * jump, with jump = product of the strides so far"),
    ("no_pool", "the pooling layers are ignored: a pooling window widens the field too, and its stride "
                "multiplies every later step"),
    ("pool_no_size", "a pooling window also widens the field, by (k - 1) * jump"),
    ("late_jump", "use the jump from *before* the layer: a layer's own stride only affects the layers after it"),
    ("no_dilation", "the dilation seems to be ignored: a dilated 3x3 kernel spans k_eff = d(k-1) + 1 pixels"),
    ("d_times_k", "a dilated kernel spans d(k-1) + 1 pixels, not d*k (the gaps lie only between taps)"),
]


def check_receptive_field(answer: Any) -> None:
    """Receptive field (one side, in input pixels) of conv3 -> maxpool3/2 -> conv3 -> maxpool2/2 ->
    conv3 with dilation 2."""
    got = _answer_int(answer, "rf")
    if got == RF_EXPECTED:
        passed("receptive field")
        print("why: every stride multiplies the jump, so a late layer, and a dilated one most of all, "
              "widens the field by many input pixels per tap.")
        return
    hints = [hint for mode, hint in _RF_HINTS if _rf(RF_LAYERS, mode) == got]
    if got == sum(k for _, k, _, _ in RF_LAYERS) or got == sum(d * (k - 1) + 1 for _, k, _, d in RF_LAYERS):
        hints.append("receptive fields do not just add kernel sizes: add (k_eff - 1) * jump per layer")
    raise CheckFailed(f"rf is {got}, which is not right: " + (" -- or: ".join(hints) if hints else
                      "start from size 1, jump 1; per layer: size += (k_eff - 1) * jump, then jump *= stride"))


protect(globals())

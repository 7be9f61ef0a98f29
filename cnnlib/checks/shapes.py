"""Checks for the exercises of notebook 03 (padding, stride, output sizes, parameter
counts, receptive fields).

Each check recomputes the right answer and, when the learner's answer is wrong, tries
the typical mistakes one by one to name it (stride ignored, dilation ignored, the solved
padding rounded down, the weight's second axis read as C_in, ...). No message names the
expected value, nor whether it exists: it says what the learner's answer implies and which
mistake it looks like.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable

from ..shapes import receptive_field
from .core import NOT_IMPLEMENTED, CheckFailed, expect_true, passed, protect

NOT_SET = ("{what} is not implemented yet: replace the `...` (and the `raise NotImplementedError()` line) "
           "with your answer and run the cell again.")

def conv_out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Reference: ``floor((n + 2p - d(k-1) - 1)/s) + 1`` (the nn.Conv2d docs)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


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


def _padding_for_reference(n: int, k: int, n_out: int, s: int = 1, d: int = 1) -> int | None:
    """The smallest p >= 0 with ``conv_out(n, k, s, p, d) == n_out``, or None (by trying every p)."""
    for p in range(0, n_out * s + d * k + 1):
        if d * (k - 1) + 1 <= n + 2 * p and conv_out(n, k, s, p, d) == n_out:
            return p
    return None


_VERIFY = "verify that the p you return gives n_out; if none does, return None"


def _diagnose_padding(case: tuple, got: Any, expected: int | None) -> str:
    n, k, n_out, s, d = case
    if got is None or expected is None:   # one neutral hint: never tell whether a padding exists
        return _VERIFY
    if isinstance(got, float) and not got.is_integer():
        return "padding is a whole number of pixels: a p with a fraction does not exist (round, then check)"
    if isinstance(got, float) and got == expected:
        return "a whole number, but a float: return an int (`/` gives floats; use // or int())"
    if not _is_int(got) and not (isinstance(got, float) and got.is_integer()):
        return "return an int (the padding on each side) or None"
    got = int(got)
    if got < 0:
        return "a padding cannot be negative: " + _VERIFY
    span = d * (k - 1) + 1
    if span > n + 2 * got:
        return f"with padding {got} the kernel (spanning {span} pixels) does not even fit"
    size = conv_out(n, k, s, got, d)
    if size == n_out:
        return (f"padding {got} gives the right size, but a smaller padding does too: the floor of the "
                "division by the stride lets several paddings give the same size; return the smallest")
    hint = f"with padding {got} the output has size {size}, not {n_out}"
    needed = (n_out - 1) * s + span - n           # 2p must be at least this
    if size < n_out and got == needed // 2 and needed % 2:
        hint += ": the solved p seems rounded down; the smallest padding is the one that is large enough"
    elif d > 1 and conv_out(n, k, s, got, 1) == n_out:
        hint += ": the dilation seems to be ignored (the kernel spans d*(k-1) + 1 pixels)"
    elif s > 1 and (n + 2 * got - span) + 1 == n_out:
        hint += ": the stride seems to be ignored"
    elif got == k // 2 and (s != 1 or n_out != n):
        hint += ": k // 2 is the 'same' rule, for stride 1 and n_out = n only"
    else:
        hint += "; solve the output-size formula for p, round to a whole number and check the result"
    return hint


def check_padding_for(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(n, k, n_out, s, d)``: the smallest padding ``p >= 0`` for which ``nn.Conv2d`` (kernel ``k``,
    stride ``s``, dilation ``d``) turns size ``n`` into ``n_out``, or ``None`` if no padding does."""
    if not callable(fn):
        raise CheckFailed(f"padding_for should be a function, got {type(fn).__name__}")
    for case in _PAD_CASES + (_PAD_HIDDEN if hidden else []):
        expected = _padding_for_reference(*case)
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


# Exercise 2: a grouped layer known only by its weight's shape and its input's channels.
_C_IN, _W_SHAPE = 32, (96, 8, 5, 5)


def check_conv_params(groups: Any, params: Any) -> None:
    """``groups`` and the parameter count (bias on) of the layer with weight shape (96, 8, 5, 5)
    that reads a 32-channel input."""
    c_out, per_group, kh, kw = _W_SHAPE
    right_groups = _C_IN // per_group
    g = _answer_int(groups, "groups")
    groups_hints = {
        per_group: "the weight's second axis is C_in / groups (the channels one filter sees), not groups",
        c_out // per_group: "groups divides the input channels: how many slices of that width fit in C_in?",
        c_out // _C_IN: "groups divides C_in into slices as wide as the weight's second axis; C_out does not enter",
        1: "with groups = 1 every filter would see all C_in channels: compare C_in with the weight's second axis",
    }
    if g != right_groups:
        raise CheckFailed(f"groups is {g}, which is not right: " + groups_hints.get(
            g, "the weight of a grouped conv has shape (C_out, C_in / groups, k, k)"))
    weights = c_out * per_group * kh * kw
    got = _answer_int(params, "params")
    params_hints = {
        weights: "that is the weight only: every filter also has one bias (bias=True by default)",
        c_out * _C_IN * kh * kw + c_out: "each filter sees C_in / groups channels, not all C_in: "
                                         "the weight's shape already says how many",
        weights // right_groups + c_out // right_groups: "that is one group only: the weight holds the filters "
                                                          "of all groups",
        weights + _C_IN: f"there is one bias per filter (output channel, {c_out}), not per input channel",
        c_out * per_group * kh + c_out: f"the kernel is {kh}x{kw}: {kh * kw} weights per slice, not {kh}",
        weights // right_groups + c_out: "the weight's shape already counts every filter of every group: "
                                         "do not divide by groups again",
    }
    if got != weights + c_out:
        raise CheckFailed(f"params is {got:,}, which is not right: " + params_hints.get(
            got, "multiply the weight's four sizes, then add one bias per filter"))
    passed("groups and parameter count")
    print("why: a grouped weight has shape (C_out, C_in / groups, k, k), so C_in over its second axis "
          "gives groups, and the product of its sizes already is the grouped count.")


# conv3 -> maxpool3 (stride 2) -> conv3 -> maxpool2 (stride 2) -> conv3 with dilation 2.
# (kind, kernel, stride, dilation)
_RF_LAYERS = [("conv", 3, 1, 1), ("pool", 3, 2, 1), ("conv", 3, 1, 1), ("pool", 2, 2, 1), ("conv", 3, 1, 2)]


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
    if got == _rf(_RF_LAYERS):
        passed("receptive field")
        print("why: every stride multiplies the jump, so a late layer, and a dilated one most of all, "
              "widens the field by many input pixels per tap.")
        return
    hints = [hint for mode, hint in _RF_HINTS if _rf(_RF_LAYERS, mode) == got]
    if got == sum(k for _, k, _, _ in _RF_LAYERS) or got == sum(d * (k - 1) + 1 for _, k, _, d in _RF_LAYERS):
        hints.append("receptive fields do not just add kernel sizes: add (k_eff - 1) * jump per layer")
    raise CheckFailed(f"rf is {got}, which is not right: " + (" -- or: ".join(hints) if hints else
                      "start from size 1, jump 1; per layer: size += (k_eff - 1) * jump, then jump *= stride"))


protect(globals())

"""cnnlib.checks.shapes: right answers pass, stubs fail with the not-implemented message,
typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import pytest

from cnnlib.checks import CheckFailed
from cnnlib.checks.shapes import (
    _padding_for_reference,
    _rf,
    _RF_LAYERS,
    check_conv_params,
    check_padding_for,
    check_receptive_field,
    conv_out,
)
from cnnlib.shapes import conv2d_output_size, receptive_field


def right(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def stub(n, k, s=1, p=0, d=1):
    raise NotImplementedError()


def test_reference_matches_cnnlib_shapes():
    for n, k, s, p, d in [(5, 3, 1, 0, 1), (8, 3, 2, 0, 1), (13, 3, 2, 1, 3), (224, 11, 4, 2, 1)]:
        assert conv_out(n, k, s, p, d) == conv2d_output_size(n, k, s, p, d)


def test_conv_params(capsys):
    import torch
    import torch.nn as nn

    from cnnlib.shapes import count_params

    layer = nn.Conv2d(32, 96, 5, groups=4)
    assert layer.weight.shape == torch.Size([96, 8, 5, 5])          # the exercise's weight shape
    check_conv_params(4, count_params(layer))
    check_conv_params(4.0, float(count_params(layer)))
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("groups, params, hint", [
    (..., ..., "not implemented yet: replace the `...`"),
    (None, 19_296, "not implemented yet: replace the `...`"),
    (4, ..., "not implemented yet: replace the `...`"),
    ("4", 19_296, "whole number"),
    (8, 19_296, "second axis is C_in / groups"),
    (12, 19_296, "how many slices"),
    (3, 19_296, "C_out does not enter"),
    (1, 19_296, "with groups = 1"),
    (5, 19_296, "shape \\(C_out, C_in / groups, k, k\\)"),
    (4, 19_200, "weight only"),
    (4, 76_896, "not all C_in"),
    (4, 4_824, "one group only"),
    (4, 19_232, "not per input channel"),
    (4, 3_936, "not 5"),
    (4, 4_896, "do not divide by groups again"),
    (4, 9_999, "multiply the weight's four sizes"),
])
def test_conv_params_wrong(groups, params, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_conv_params(groups, params)


def test_receptive_field(capsys):
    layers = [(3, 1, 1), (3, 2, 1), (3, 1, 1), (2, 2, 0), (3, 1, 2, 2)]     # the exercise's network
    assert receptive_field(layers)[-1].size == _rf(_RF_LAYERS) == 27
    check_receptive_field(27)
    out = capsys.readouterr().out
    assert "all checks passed" in out and "why:" in out


@pytest.mark.parametrize("answer, hint", [
    (..., "not implemented yet: replace the `...`"),
    (12, "jump = product of the strides"),
    (9, "pooling layers are ignored"),
    (23, "widens the field, by"),
    (31, "from \\*before\\*"),
    (31, "not d\\*k"),
    (19, "dilation seems to be ignored"),
    (14, "do not just add kernel sizes"),
    (26, "size \\+= \\(k_eff - 1\\) \\* jump"),
    (27.5, "whole number"),
])
def test_receptive_field_wrong(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_receptive_field(answer)


# ------------------------------------------------------------------ exercise 1: padding_for

def padding_right(n, k, n_out, s=1, d=1):
    k_eff = d * (k - 1) + 1
    p = max(0, -(-((n_out - 1) * s + k_eff - n) // 2))
    return p if k_eff <= n + 2 * p and (n + 2 * p - k_eff) // s + 1 == n_out else None


def test_padding_for_reference_against_real_layers():
    import torch
    import torch.nn.functional as F

    from cnnlib.checks.shapes import _PAD_CASES, _PAD_HIDDEN

    for n, k, n_out, s, d in _PAD_CASES + _PAD_HIDDEN:
        p = _padding_for_reference(n, k, n_out, s, d)
        sizes = {q: F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=q, dilation=d).shape[-1]
                 for q in range(0, 12) if d * (k - 1) + 1 <= n + 2 * q}
        hits = [q for q, size in sizes.items() if size == n_out]
        assert p == (min(hits) if hits else None), (n, k, n_out, s, d)
        assert padding_right(n, k, n_out, s, d) == p


@pytest.mark.parametrize("hidden", [False, True])
def test_padding_for_right_answer_passes(hidden, capsys):
    check_padding_for(padding_right, hidden=hidden)
    check_padding_for(_padding_for_reference, hidden=hidden)
    assert capsys.readouterr().out.count("all checks passed") == 2


PADDING_WRONG = [
    (lambda n, k, n_out, s=1, d=1: (_ for _ in ()).throw(NotImplementedError()), "not implemented"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if s == 1 else k // 2, "'same' rule"),
    (lambda n, k, n_out, s=1, d=1: -1, "cannot be negative"),
    (lambda n, k, n_out, s=1, d=1: ((n_out - 1) * s + d * (k - 1) + 1 - n) / 2, "but a float"),
    (lambda n, k, n_out, s=1, d=1: 2.5 if n == 32 else padding_right(n, k, n_out, s, d), "whole number of pixels"),
    (lambda n, k, n_out, s=1, d=1: ((n_out - 1) * s + d * (k - 1) + 1 - n) // 2, "the output has size"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if d == 1 else
     max(0, -(-((n_out - 1) * s + k - n) // 2)), "dilation seems to be ignored"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if d == 1 else None, "verify that the p"),
    # solving for p without verifying: at (10, 3, 9) the ceiling gives 1 = k // 2, but no padding works
    (lambda n, k, n_out, s=1, d=1: max(0, -(-((n_out - 1) * s + d * (k - 1) + 1 - n) // 2)), "verify that the p"),
    # solving for p and rounding down: (32, 3, 16, s=2) needs 2p >= 15
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if s == 1 else
     max(0, ((n_out - 1) * s + d * (k - 1) + 1 - n) // 2), "seems rounded down"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) or min(0, -(-((n_out - 1) * s + d * (k - 1) + 1 - n)
                                                                              // 2)) or None, "verify that the p"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) + ((n, s) == (10, 3)) if padding_right(
        n, k, n_out, s, d) is not None else None, "a smaller padding does too"),
    (lambda n, k, n_out, s=1, d=1: "two", "return an int"),
    (lambda n, k, n_out, s=1, d=1: n[0], "TypeError"),
]


@pytest.mark.parametrize("wrong, hint", PADDING_WRONG)
def test_padding_for_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_padding_for(wrong, hidden=True)


def test_padding_for_not_a_function():
    with pytest.raises(CheckFailed, match="should be a function"):
        check_padding_for(3)


# ------------------------------------------------------------------ no check gives the answer away
# (check, args, kwargs, strings of the right value(s) that must not appear in the message or stdout)
LEAK_CASES = [
    (check_conv_params, (8, 19_296), {}, ["is 4", "= 4", "19,296", "19296"]),
    (check_conv_params, (12, 19_296), {}, ["is 4", "= 4", "19,296", "19296"]),
    (check_conv_params, (4, 19_200), {}, ["19,296", "19296", "19_296"]),
    (check_conv_params, (4, 76_896), {}, ["19,296", "19296"]),
    (check_conv_params, (4, 9_999), {}, ["19,296", "19296"]),
    (check_receptive_field, (12,), {}, ["27"]),
    (check_receptive_field, (19,), {}, ["27"]),
    (check_receptive_field, (31,), {}, ["27"]),
    (check_receptive_field, (26,), {}, ["27"]),
    # padding_for: the first case (28, 5, 28) needs 2; wrong answers there must not see "2" offered
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: 1,), {}, ["padding 2", "p = 2", "is 2"]),
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if s == 1 else 2,), {},
     ["padding 1 ", "p = 1", "is 1"]),
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if n_out != 9 else 1,), {},
     ["None works", "there is a padding", "no padding works", "whole-number padding gives"]),
    # int where none exists (10, 3, 9) and None where one exists (28, 5, 28): neither may learn which
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: max(0, -(-((n_out - 1) * s + d * (k - 1) + 1 - n) // 2)),), {},
     ["None works", "there is a padding", "no padding works", "whole-number padding gives", "k // 2"]),
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: None,), {},
     ["there is a padding", "no padding works", "whole-number padding gives", "padding 2"]),
]

# Compute exercises: the values of their answers, which no cell above the exercise may show.
EXERCISE_ANSWERS = {
    "03_padding_stride_shapes.ipynb": {"ex2-answer": ["19,296"], "ex3-answer": ["27"]},
}

# LEAK_CASES are run by tests/test_checks_no_leak.py (whole numbers matched as numbers).

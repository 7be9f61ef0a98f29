"""cnnlib.checks.shapes: right answers pass, stubs fail with the not-implemented message,
typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import pytest

from cnnlib.checks import CheckFailed
from cnnlib.checks.shapes import (
    PARAMS_GROUPED,
    PARAMS_PLAIN,
    RF_EXPECTED,
    check_conv_output_size,
    check_conv_params,
    check_padding_for,
    check_receptive_field,
    conv_out,
    padding_for_reference,
)
from cnnlib.shapes import conv2d_output_size, receptive_field


def right(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def stub(n, k, s=1, p=0, d=1):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_conv_output_size_right_answer_passes(hidden, capsys):
    check_conv_output_size(right, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


def test_reference_matches_cnnlib_shapes():
    for n, k, s, p, d in [(5, 3, 1, 0, 1), (8, 3, 2, 0, 1), (13, 3, 2, 1, 3), (224, 11, 4, 2, 1)]:
        assert conv_out(n, k, s, p, d) == conv2d_output_size(n, k, s, p, d)


def test_conv_output_size_stub_fails():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_conv_output_size(stub)


@pytest.mark.parametrize("wrong, hint", [
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) / s + 1, "no floor"),
    (lambda n, k, s=1, p=0, d=1: 3.5 if (n, s) == (8, 2) else right(n, k, s, p, d), "no floor: when"),
    (lambda n, k, s=1, p=0, d=1: float((n + 2 * p - d * (k - 1) - 1) // s + 1), "float"),
    (lambda n, k, s=1, p=0, d=1: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1, "rounds up"),
    (lambda n, k, s=1, p=0, d=1: n + 2 * p - d * (k - 1), "stride seems to be ignored"),
    (lambda n, k, s=1, p=0, d=1: (n + p - d * (k - 1) - 1) // s + 1, "counted once"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - k) // s + 1, "dilation seems to be ignored"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * k) // s + 1, "not d\\*k"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) // s, "off by one"),
    (lambda n, k, s=1, p=0, d=1: (n - 2 * p - d * (k - 1) - 1) // s + 1, "do not subtract"),
    (lambda n, k, s=1, p=0, d=1: None, "forget `return`"),
    (lambda n, k, s=1, p=0, d=1: (n, n), "not a tuple"),
    (lambda n, k, s=1, p=0, d=1: 7, "nn.Conv2d docs"),
])
def test_conv_output_size_wrong_answers_get_hints(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_conv_output_size(wrong, hidden=True)


def test_conv_output_size_not_a_function():
    with pytest.raises(CheckFailed, match="should be a function"):
        check_conv_output_size(3)


def test_conv_params(capsys):
    import torch.nn as nn

    from cnnlib.shapes import count_params

    assert (PARAMS_PLAIN, PARAMS_GROUPED) == (76_896, 19_296)
    assert count_params(nn.Conv2d(32, 96, 5)) == PARAMS_PLAIN
    assert count_params(nn.Conv2d(32, 96, 5, groups=4)) == PARAMS_GROUPED
    check_conv_params(76_896, 19_296)
    check_conv_params(76_896.0, 19_296)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("plain, grouped, hint", [
    (..., ..., "not implemented yet: replace the `...`"),
    (None, 19_296, "not implemented yet: replace the `...`"),
    (76_896, ..., "not implemented yet: replace the `...`"),
    ("76896", 19_296, "whole number"),
    (76_800, 19_296, "weight only"),
    (2_496, 19_296, "multiply by C_in"),
    (15_456, 19_296, "not 5"),
    (76_832, 19_296, "not per input channel"),
    (79_872, 19_296, "one bias per filter"),
    (12_345, 19_296, "one bias per filter"),
    (76_896, 76_896, "groups=4 is ignored"),
    (76_896, 19_200, "weight only"),
    (76_896, 19_224, "biases are not divided"),
    (76_896, 4_824, "one group only"),
    (76_896, 4_896, "96 filters in all"),
    (76_896, 9_999, "C_in/groups input slices"),
])
def test_conv_params_wrong(plain, grouped, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_conv_params(plain, grouped)


def test_receptive_field(capsys):
    layers = [(3, 1, 1), (3, 2, 1), (3, 1, 1), (2, 2, 0), (3, 1, 2, 2)]     # the exercise's network
    assert receptive_field(layers)[-1].size == RF_EXPECTED == 27
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
        p = padding_for_reference(n, k, n_out, s, d)
        sizes = {q: F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=q, dilation=d).shape[-1]
                 for q in range(0, 12) if d * (k - 1) + 1 <= n + 2 * q}
        hits = [q for q, size in sizes.items() if size == n_out]
        assert p == (min(hits) if hits else None), (n, k, n_out, s, d)
        assert padding_right(n, k, n_out, s, d) == p


@pytest.mark.parametrize("hidden", [False, True])
def test_padding_for_right_answer_passes(hidden, capsys):
    check_padding_for(padding_right, hidden=hidden)
    check_padding_for(padding_for_reference, hidden=hidden)
    assert capsys.readouterr().out.count("all checks passed") == 2


PADDING_WRONG = [
    (lambda n, k, n_out, s=1, d=1: (_ for _ in ()).throw(NotImplementedError()), "not implemented"),
    (lambda n, k, n_out, s=1, d=1: k // 2, "'same' rule"),
    (lambda n, k, n_out, s=1, d=1: ((n_out - 1) * s + d * (k - 1) + 1 - n) / 2, "but a float"),
    (lambda n, k, n_out, s=1, d=1: 2.5 if n == 32 else padding_right(n, k, n_out, s, d), "whole number of pixels"),
    (lambda n, k, n_out, s=1, d=1: ((n_out - 1) * s + d * (k - 1) + 1 - n) // 2, "the output has size"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if d == 1 else
     max(0, -(-((n_out - 1) * s + k - n) // 2)), "dilation seems to be ignored"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if d == 1 else None, "there is a padding"),
    (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) or min(0, -(-((n_out - 1) * s + d * (k - 1) + 1 - n)
                                                                              // 2)) or None, "cannot be negative"),
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
    # wrong from (28, 3, 2, 1, 1) on, whose right size 14 is none of the arguments
    (check_conv_output_size, (lambda n, k, s=1, p=0, d=1: n + 2 * p - d * (k - 1),), {}, ["14"]),
    (check_conv_output_size, (lambda n, k, s=1, p=0, d=1: right(n, k, s, p, d) if s == 1 else 7,), {}, ["14"]),
    (check_conv_output_size, (lambda n, k, s=1, p=0, d=1: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1,), {}, ["14"]),
    (check_conv_params, (76_800, 19_296), {}, ["76,896", "76896", "76_896"]),
    (check_conv_params, (12_345, 19_296), {}, ["76,896", "76896"]),
    (check_conv_params, (76_896, 76_896), {}, ["19,296", "19296"]),
    (check_conv_params, (76_896, 9_999), {}, ["19,296", "19296"]),
    (check_receptive_field, (12,), {}, ["27"]),
    (check_receptive_field, (19,), {}, ["27"]),
    (check_receptive_field, (31,), {}, ["27"]),
    (check_receptive_field, (26,), {}, ["27"]),
    # padding_for: the first case (28, 5, 28) needs 2; wrong answers there must not see "2" offered
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: 1,), {}, ["padding 2", "p = 2", "is 2"]),
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if s == 1 else 2,), {},
     ["padding 1 ", "p = 1", "is 1"]),
    (check_padding_for, (lambda n, k, n_out, s=1, d=1: padding_right(n, k, n_out, s, d) if n_out != 9 else 1,), {},
     ["None"]),
]

# Compute exercises: the values of their answers, which no cell above the exercise may show.
EXERCISE_ANSWERS = {
    "03_padding_stride_shapes.ipynb": {"ex2-answer": ["76,896", "19,296"], "ex3-answer": ["27"]},
}


@pytest.mark.parametrize("check, args, kwargs, forbidden", LEAK_CASES)
def test_wrong_answers_never_show_the_right_value(check, args, kwargs, forbidden, capsys):
    with pytest.raises(CheckFailed) as err:
        check(*args, **kwargs)
    shown = str(err.value) + capsys.readouterr().out
    for s in forbidden:
        assert s not in shown, (s, shown)

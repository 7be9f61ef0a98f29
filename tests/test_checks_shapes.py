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
    check_receptive_field,
    conv_out,
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
    (12_345, 19_296, "k\\*k\\*C_in\\*C_out"),
    (76_896, 76_896, "groups=4 is ignored"),
    (76_896, 19_200, "weight only"),
    (76_896, 19_224, "biases are not divided"),
    (76_896, 4_824, "one group only"),
    (76_896, 4_896, "96 filters in all"),
    (76_896, 9_999, "C_in/groups"),
])
def test_conv_params_wrong(plain, grouped, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_conv_params(plain, grouped)


def test_receptive_field(capsys):
    layers = [(3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1)]
    assert receptive_field(layers)[-1].size == RF_EXPECTED == 18
    check_receptive_field(18)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer, hint", [
    (..., "not implemented yet: replace the `...`"),
    (9, "jump = product of the strides"),
    (7, "pooling layers are ignored"),
    (15, "widens the field by"),
    (21, "from \\*before\\*"),
    (13, "do not just add kernel sizes"),
    (17, "size \\+= \\(k - 1\\) \\* jump"),
    (18.5, "whole number"),
])
def test_receptive_field_wrong(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_receptive_field(answer)

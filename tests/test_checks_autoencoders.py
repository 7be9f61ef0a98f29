"""Checks of notebook 12: right answers pass, stubs and typical mistakes fail with a hint."""
import pytest
import torch
import torch.nn.functional as F

from cnnlib.checks.autoencoders import (
    check_overlap_counts,
    check_transposed_size,
    check_upsample2x,
    overlap_counts_1d,
)
from cnnlib.checks.core import CheckFailed


def right_size(h, k, s=1, p=0, op=0, d=1):
    return (h - 1) * s - 2 * p + d * (k - 1) + op + 1


def stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_transposed_size_right_answer_passes(hidden, capsys):
    check_transposed_size(right_size, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


def test_transposed_size_stub_fails():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_transposed_size(stub)


def test_transposed_size_returning_nothing_fails():
    with pytest.raises(CheckFailed, match="forget `return`"):
        check_transposed_size(lambda *a: None)


@pytest.mark.parametrize("wrong, hint", [
    (lambda h, k, s, p, op, d: (h + 2 * p - d * (k - 1) - 1) // s + 1, "convolution\\* formula"),
    (lambda h, k, s, p, op, d: (h - 1) * s - 2 * p + d * (k - 1) + 1, "output_padding seems to be missing"),
    (lambda h, k, s, p, op, d: (h - 1) * s - 2 * p + d * (k - 1) + 2 * op + 1, "one side only"),
    (lambda h, k, s, p, op, d: (h - 1) * s - 2 * p + (k - 1) + op + 1, "dilation seems to be ignored"),
    (lambda h, k, s, p, op, d: (h - 1) * s + 2 * p + d * (k - 1) + op + 1, "removes"),
    (lambda h, k, s, p, op, d: h * s - 2 * p + d * (k - 1) + op + 1, "h_in - 1"),
    (lambda h, k, s, p, op, d: (h - 1) * s - 2 * p + d * (k - 1) + op, "off by one"),
    (lambda h, k, s, p, op, d: float(right_size(h, k, s, p, op, d)), "return an int"),
])
def test_transposed_size_typical_mistakes_get_a_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_transposed_size(wrong, hidden=True)


def test_transposed_size_unknown_mistake_still_fails():
    with pytest.raises(CheckFailed, match="expected 28"):
        check_transposed_size(lambda *a: 3)


def right_upsample(x):
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


@pytest.mark.parametrize("hidden", [False, True])
def test_upsample_right_answers_pass(hidden, capsys):
    check_upsample2x(right_upsample, hidden=hidden)
    n_c_h_w = lambda x: x[:, :, :, None, :, None].expand(*x.shape[:3], 2, x.shape[3], 2).reshape(
        x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3])
    check_upsample2x(n_c_h_w, hidden=hidden)
    assert capsys.readouterr().out.count("all checks passed") == 2


def test_upsample_stub_fails():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_upsample2x(stub)
    with pytest.raises(CheckFailed, match="forget `return`"):
        check_upsample2x(lambda x: ...)


@pytest.mark.parametrize("wrong, hint", [
    (lambda x: x.repeat(1, 1, 2, 2), "tiles the whole image"),
    (lambda x: x.repeat_interleave(2, dim=2), "only the rows"),
    (lambda x: x.repeat_interleave(2, dim=3), "only the columns"),
    (lambda x: x.repeat_interleave(2, dim=1), "wrong axis"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), "not F.interpolate"),
    (lambda x: torch.nn.Upsample(scale_factor=2)(x), "not F.interpolate"),
    (lambda x: right_upsample(x).transpose(2, 3).reshape(right_upsample(x).shape), "2x2 block"),
    (lambda x: right_upsample(x).numpy(), "return a tensor"),
])
def test_upsample_typical_mistakes_get_a_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_upsample2x(wrong)
    assert F.interpolate is not None and F.interpolate.__name__ == "interpolate"  # restored


def test_overlap_counts_reference():
    assert overlap_counts_1d(4, 3, 2) == [1, 1, 2, 1, 2, 1, 2, 1, 1]
    assert overlap_counts_1d(4, 4, 2) == [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]


def test_overlap_right_answer_passes(capsys):
    check_overlap_counts([1, 1, 2, 1, 2, 1, 2, 1, 1])
    check_overlap_counts(torch.tensor([1, 1, 2, 1, 2, 1, 2, 1, 1]))
    assert capsys.readouterr().out.count("all checks passed") == 2


@pytest.mark.parametrize("wrong, hint", [
    (..., "not implemented"),
    (None, "not implemented"),
    ("abc", "list of integers"),
    ([1, 1, 2, 1, 2, 1, 2, 1], "expected 9"),
    ([2], "convolution formula"),
    ([1] * 9, "overlap by"),
    ([1, 1, 2, 2, 2, 2, 2, 1, 1], "even kernel"),
    ([1, 2, 1, 2, 1, 2, 1, 2, 1], "add up to 12"),
    ([1, 2, 1, 2, 1, 2, 1, 1, 1], "Place a window"),
])
def test_overlap_typical_mistakes_get_a_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_overlap_counts(wrong)

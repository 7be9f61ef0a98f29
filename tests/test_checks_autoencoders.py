"""Checks of notebook 12: right answers pass, stubs and typical mistakes fail with a hint."""
import pytest
import torch
import torch.nn.functional as F

from cnnlib.checks.autoencoders import (
    check_output_padding,
    check_overlap_counts,
    check_upsample2x,
    overlap_counts_1d,
)
from cnnlib.checks.core import CheckFailed


def right_padding(h_out, h_in, k, s=1, p=0, d=1):
    op = h_out - ((h_in - 1) * s - 2 * p + d * (k - 1) + 1)
    return op if 0 <= op < max(s, d) else None


def stub(*args, **kwargs):
    raise NotImplementedError()


def test_right_padding_agrees_with_pytorch():
    for h_out in range(1, 20):
        for h_in, k, s, p, d in [(7, 3, 2, 1, 1), (5, 2, 1, 0, 3), (4, 3, 3, 1, 2), (6, 4, 2, 1, 1)]:
            op = right_padding(h_out, h_in, k, s, p, d)
            sizes = [F.conv_transpose2d(torch.zeros(1, 1, h_in, h_in), torch.zeros(1, 1, k, k), stride=s, padding=p,
                                        output_padding=o, dilation=d).shape[-1] for o in range(max(s, d))]
            assert (op is None) == (h_out not in sizes) and (op is None or sizes[op] == h_out)


@pytest.mark.parametrize("hidden", [False, True])
def test_output_padding_right_answer_passes(hidden, capsys):
    check_output_padding(right_padding, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


def test_output_padding_stub_fails():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_output_padding(stub)
    with pytest.raises(CheckFailed, match="forget `return`"):
        check_output_padding(lambda *a: ...)


def _raw(h_out, h_in, k, s=1, p=0, d=1):
    return h_out - ((h_in - 1) * s - 2 * p + d * (k - 1) + 1)


def _stride_only(h_out, h_in, k, s=1, p=0, d=1):
    op = _raw(h_out, h_in, k, s, p, d)
    return op if 0 <= op < s else None


def _conv_formula(h_out, h_in, k, s=1, p=0, d=1):
    return h_out - ((h_in + 2 * p - d * (k - 1) - 1) // s + 1)


WRONG = [
    (_raw, "outside what PyTorch accepts"),
    (lambda *a: -_raw(*a) if right_padding(*a) is not None else None, "sign is flipped"),
    (lambda *a: _raw(*a) + 1 if right_padding(*a) is not None else None, "off by one"),
    (_stride_only, "max\\(stride, dilation\\)"),
    (lambda *a: None, "an allowed value exists"),
    (lambda *a: right_padding(*a) or 0, "return None"),
    (lambda *a: float(_raw(*a)), "return an int or None"),
    (_conv_formula, "convolution\\* formula"),
]


@pytest.mark.parametrize("wrong, hint", WRONG)
def test_output_padding_typical_mistakes_get_a_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_output_padding(wrong, hidden=True)


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


# ---------------------------------------------------------------- no answer leaks (tests/test_checks_no_leak.py)
def _swapped_rows(x):
    return x.repeat(1, 1, 2, 2)


LEAK_CASES = [
    (check_output_padding, (_raw,), {}, ["should be None", "expected None"]),
    (check_output_padding, (lambda *a: None,), {}, ["should be 1", "expected 1", "output_padding=1"]),
    (check_output_padding, (_stride_only,), {"hidden": True}, ["should be 2", "expected 2", "output_padding=2"]),
    (check_upsample2x, (_swapped_rows,), {}, ["repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)"]),
    (check_upsample2x, (lambda x: x.repeat_interleave(2, dim=2),), {}, ["(1, 1, 4, 4)"]),
    (check_overlap_counts, ([1] * 9,), {}, ["[1, 1, 2, 1, 2, 1, 2, 1, 1]"]),
    (check_overlap_counts, ([1, 2, 1, 2, 1, 2, 1, 2, 1],), {}, ["[1, 1, 2, 1, 2, 1, 2, 1, 1]"]),
    (check_overlap_counts, ([1, 2, 1, 2, 1, 2, 1, 1, 1],), {}, ["[1, 1, 2, 1, 2, 1, 2, 1, 1]"]),
]

# answers of the compute exercises, never shown above them (tests/test_exercises_unanswered.py)
EXERCISE_ANSWERS = {"12_autoencoders.ipynb": {
    "ex3-answer": ["[1, 1, 2, 1, 2, 1, 2, 1, 1]", "1, 1, 2, 1, 2, 1, 2, 1, 1"],
    "ex5-answer": ["2, 2, 1"],   # kernel 5, stride 3: the period of its overlap counts
}}

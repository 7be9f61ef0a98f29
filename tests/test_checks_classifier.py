"""cnnlib.checks.classifier: right answers pass, stubs and typical mistakes fail with a hint."""
import math

import pytest
import torch

from cnnlib.checks import CheckFailed
from cnnlib.checks.classifier import check_flatten_size, check_lenet_params, check_softmax


# ----------------------------------------------------------------------------- softmax
def softmax_right(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def softmax_stub(z):
    raise NotImplementedError()


def softmax_naive(z):
    return torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)


def softmax_global_max(z):
    e = torch.exp(z - z.max())
    return e / e.sum(dim=1, keepdim=True)


def softmax_dim0(z):
    e = torch.exp(z - z.max(dim=0, keepdim=True).values)
    return e / e.sum(dim=0, keepdim=True)


def softmax_global_sum(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum()


def softmax_unnormalized(z):
    return torch.exp(z - z.max(dim=1, keepdim=True).values)


def softmax_log(z):
    return torch.log_softmax(z, dim=1)


def softmax_no_keepdim(z):
    e = torch.exp(z - z.max(dim=1).values)
    return e / e.sum(dim=1, keepdim=True)


def softmax_inplace(z):
    z -= z.max(dim=1, keepdim=True).values
    e = torch.exp(z)
    return e / e.sum(dim=1, keepdim=True)


def softmax_flat(z):
    return softmax_right(z).flatten()


def test_softmax_right_answer_passes(capsys):
    check_softmax(softmax_right)
    check_softmax(softmax_right, hidden=True)
    check_softmax(lambda z: torch.softmax(z, dim=-1), hidden=True)
    check_softmax(lambda z: softmax_right(z).numpy())     # a NumPy array is accepted too
    assert "softmax: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("stub", [softmax_stub, lambda z: ...])
def test_softmax_stub_fails_not_implemented(stub):
    with pytest.raises(CheckFailed, match="not implemented"):
        check_softmax(stub)


@pytest.mark.parametrize("fn, hint", [
    (softmax_naive, "exp overflows"),
    (softmax_global_max, "each row's own maximum"),
    (softmax_dim0, "columns sum to 1"),
    (softmax_global_sum, "whole batch sums to 1"),
    (softmax_unnormalized, "do not sum to 1"),
    (softmax_log, "log-probabilities"),
    (softmax_no_keepdim, "keepdim=True"),
    (softmax_inplace, "in place"),
    (softmax_flat, "same \\(N, K\\) shape"),
    (lambda z: None, "forget the `return`"),
    (lambda z: "probabilities", "should return a tensor"),
])
def test_softmax_typical_mistakes_get_a_hint(fn, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_softmax(fn)


def test_softmax_unknown_mistake_still_fails():
    with pytest.raises(CheckFailed, match="softmax is wrong for small logits"):
        check_softmax(lambda z: softmax_right(z) * 0.5 + 0.5 / z.shape[1])
    with pytest.raises(CheckFailed, match="NaN or inf"):
        check_softmax(lambda z: softmax_right(z) / 0.0)
    with pytest.raises(CheckFailed, match="cannot be negative"):
        check_softmax(lambda z: softmax_right(z) - 0.5)
    with pytest.raises(CheckFailed, match="must sum to 1"):
        check_softmax(lambda z: softmax_right(z) * 1.5)


# ----------------------------------------------------------------------------- parameter counts
def test_lenet_params_constants_match_pytorch():
    from cnnlib.models.lenet import LeNet
    from cnnlib.shapes import count_params

    m = LeNet(channels=(10, 20), padding=0)
    assert (count_params(m.features.conv2), count_params(m.classifier.fc1)) == (5020, 38520)


def test_lenet_params_explanation_matches_pytorch(capsys):
    # the "why" line printed on success: without padding fc1 loses more than a third of its
    # weights against the same LeNet with padding=2, and conv2 keeps its count
    from cnnlib.models.lenet import LeNet
    from cnnlib.shapes import count_params

    padded, unpadded = LeNet(channels=(10, 20), padding=2), LeNet(channels=(10, 20), padding=0)
    w_padded, w_unpadded = padded.classifier.fc1.weight.numel(), unpadded.classifier.fc1.weight.numel()
    assert 1 / 3 < 1 - w_unpadded / w_padded < 1 / 2
    assert count_params(padded.features.conv2) == count_params(unpadded.features.conv2)
    check_lenet_params(5020, 38520)
    out = capsys.readouterr().out
    assert "more than a third of its weights" in out and "conv2 stayed the same" in out


def test_lenet_params_right_answer(capsys):
    check_lenet_params(10 * 20 * 5 * 5 + 20, 320 * 120 + 120)
    check_lenet_params(5020.0, torch.tensor(38520))
    assert "all checks passed" in capsys.readouterr().out


def test_lenet_params_stub():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_lenet_params(..., ...)
    with pytest.raises(CheckFailed, match="not implemented"):
        check_lenet_params(5020, None)


@pytest.mark.parametrize("conv2, fc1, hint", [
    (5000, 38520, "weights only: add one bias per filter"),
    (520, 38520, "one 5x5 slice per input channel"),
    (5010, 38520, "per \\*output\\* channel"),
    (251, 38520, "one filter"),
    (3020, 38520, "makes 10 maps, not 6"),
    (4016, 38520, "20 filters, not 16"),
    (1234, 38520, "it spans every map conv1 makes"),
    (5020, 38400, "weights only: add one bias per output neuron"),
    (5020, 38720, "not to the inputs"),
    (5020, 48120, "padding=2"),
    (5020, 60120, "padded LeNet"),
    (5020, 94200, "raw image"),
    (5020, 30840, "20 channels"),
    (5020, 153720, "before the second pooling"),
    (5020, 12345, "trace the map sizes from 28x28"),
])
def test_lenet_params_typical_mistakes(conv2, fc1, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_lenet_params(conv2, fc1)


@pytest.mark.parametrize("bad", [5020.5, "5020", True, [5020]])
def test_lenet_params_not_a_whole_number(bad):
    with pytest.raises(CheckFailed, match="whole number"):
        check_lenet_params(bad, 38520)


# ----------------------------------------------------------------------------- flatten size
def flatten_right(input_size, padding, channels):
    s = (input_size + 2 * padding - 5 + 1) // 2
    s = (s - 5 + 1) // 2
    return channels * s * s


def test_flatten_right_answer(capsys):
    check_flatten_size(flatten_right)
    check_flatten_size(flatten_right, hidden=True)
    check_flatten_size(lambda n, p, c: float(flatten_right(n, p, c)))
    assert "flatten_size: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("stub", [lambda n, p, c: ..., lambda n, p, c: (_ for _ in ()).throw(NotImplementedError())])
def test_flatten_stub(stub):
    with pytest.raises(CheckFailed, match="not implemented"):
        check_flatten_size(stub)


def _pipeline(n, p, c, conv1=None, pool=None, conv2=None, first_pool=True, second_pool=True, square=True):
    conv1 = conv1 or (lambda s: s + 2 * p - 5 + 1)
    pool = pool or (lambda s: s // 2)
    conv2 = conv2 or (lambda s: s - 5 + 1)
    s = conv1(n)
    s = pool(s) if first_pool else s
    s = conv2(s)
    s = pool(s) if second_pool else s
    return c * s * s if square else c * s


@pytest.mark.parametrize("fn, hint", [
    (lambda n, p, c: flatten_right(n, p, c) // c, "multiply by the number of channels"),
    (lambda n, p, c: _pipeline(n, p, c, pool=lambda s: s / 2), "floor division"),
    (lambda n, p, c: _pipeline(n, p, c, pool=lambda s: math.ceil(s / 2)), "rounds down"),
    (lambda n, p, c: _pipeline(n, p, c, conv1=lambda s: s - 5 + 1), "padding of conv1 seems to be ignored"),
    (lambda n, p, c: _pipeline(n, p, c, conv1=lambda s: s + p - 5 + 1), "both sides"),
    (lambda n, p, c: _pipeline(n, p, c, conv2=lambda s: s + 2 * p - 5 + 1), "only conv1 is padded"),
    (lambda n, p, c: _pipeline(n, p, c, conv1=lambda s: s + 2 * p - 5, conv2=lambda s: s - 5), "n - k \\+ 1"),
    (lambda n, p, c: _pipeline(n, p, c, second_pool=False), "second pooling is missing"),
    (lambda n, p, c: _pipeline(n, p, c, first_pool=False), "first pooling is missing"),
    (lambda n, p, c: _pipeline(n, p, c, square=False), "one side only"),
    (lambda n, p, c: None, "forget the `return`"),
    (lambda n, p, c: flatten_right(n, p, c) if p == 0 else 7 * c, None),
])
def test_flatten_typical_mistakes(fn, hint):
    with pytest.raises(CheckFailed, match=hint) as err:
        check_flatten_size(fn)
    if hint is None:   # no known mistake: the plain message, no hint
        assert "trace the side length" in str(err.value)


def test_flatten_mistake_matched_on_one_case_only():
    # right on 28x28, ignores the padding otherwise: matched on the failing case alone
    def fn(n, p, c):
        return flatten_right(n, p, c) if n == 28 else _pipeline(n, p, c, conv1=lambda s: s - 5 + 1)

    with pytest.raises(CheckFailed, match="flatten_size\\(29, 2, 8\\) returned 128, which is not right: the padding"):
        check_flatten_size(fn)


def test_flatten_unknown_mistake_and_bool():
    with pytest.raises(CheckFailed, match="flatten_size\\(28, 2, 16\\) returned 7, which is not right: trace"):
        check_flatten_size(lambda n, p, c: 7)
    with pytest.raises(CheckFailed, match="returned True"):
        check_flatten_size(lambda n, p, c: True)
    with pytest.raises(CheckFailed, match="returned 'x'"):
        check_flatten_size(lambda n, p, c: "x")


def test_softmax_runtime_error_gets_a_hint():
    with pytest.raises(CheckFailed, match="raised RuntimeError.*keepdim=True"):
        check_softmax(softmax_no_keepdim)
    with pytest.raises(CheckFailed, match="raised RuntimeError: boom$"):
        check_softmax(lambda z: (_ for _ in ()).throw(RuntimeError("boom")))


def test_flatten_crash_on_other_cases_still_diagnoses_the_first():
    def fn(n, p, c):
        if n != 28 or p != 2:
            raise ValueError("only 28x28 with padding 2 supported")
        return 256     # ignores the padding

    with pytest.raises(CheckFailed, match="returned 256, which is not right: the padding of conv1"):
        check_flatten_size(fn)


def _softmax_no_max(z):
    return torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)


# (check, args, kwargs, strings of the right value that must not appear in the feedback)
LEAK_CASES = [
    (check_lenet_params, (5000, 38520), {}, ["5,020", "5020"]),
    (check_lenet_params, (3020, 38520), {}, ["5,020", "5020"]),
    (check_lenet_params, (5020, 48120), {}, ["38,520", "38520", "320"]),
    (check_lenet_params, (5020, 38400), {}, ["38,520", "38520"]),
    (check_lenet_params, (5020, 12345), {}, ["38,520", "38520", "320"]),
    (check_lenet_params, (5, 38520), {}, ["5020", "C_in * kH * kW * C_out"]),
    (check_lenet_params, (5020, 123), {}, ["38520", "in_features * out_features + out_features"]),
    (check_softmax, (lambda z: torch.softmax(z, dim=0),), {}, ["expected", "0.09003", "0.6652"]),
    (check_softmax, (_softmax_no_max,), {}, ["expected", "0.09003", "0.6652"]),
    (check_softmax, (lambda z: torch.exp(z - z.amax(1, keepdim=True)),), {}, ["expected", "0.09003"]),
    (check_flatten_size, (lambda n, p, c: 7,), {}, ["expected"]),
    (check_flatten_size, (lambda n, p, c: flatten_right(n, p, c) if n == 28 else 1,), {}, ["expected", "256"]),
    (check_flatten_size, (lambda n, p, c: flatten_right(n, p, c) // c,), {}, ["expected", "400"]),
]

EXERCISE_ANSWERS = {"05_lenet_mnist.ipynb": {"ex2-answer": ["5020", "38520"]}}

# LEAK_CASES are run by tests/test_checks_no_leak.py (whole numbers matched as numbers).

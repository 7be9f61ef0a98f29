"""cnnlib.checks.convolution: right answers pass, stubs fail with the not-implemented
message, typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.checks import CheckFailed
from cnnlib.checks.convolution import (
    CONV_INPUT,
    CONV_MAPS,
    CONV_OUT_SHAPE,
    CONV_WEIGHT_SHAPE,
    STACK_INPUT,
    STACK_K1,
    STACK_K2,
    STACK_KERNEL,
    STACK_OUT,
    _dx_with,
    check_conv2d_backward,
    check_conv_answers,
    check_correlate2d_strided,
    check_stacked_kernel,
    numerical_gradient,
    relative_error,
)


def _loop(image, kernel, stride, flip=False, step=None, floor=True, plus_one=True):
    """A configurable (buggy) strided correlation: the typical mistakes as switches."""
    if flip:
        kernel = kernel[::-1, ::-1]
    kh, kw = kernel.shape
    h, w = image.shape
    move = stride if step is None else step

    def size(n, k):
        if not plus_one:
            return (n - k) // stride
        return (n - k) // stride + 1 if floor else -(-(n - k) // stride) + 1

    h_out, w_out = size(h, kh), size(w, kw)
    padded = np.pad(image, ((0, kh), (0, kw)))   # lets the round-up variant run
    out = np.zeros((h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            out[i, j] = np.sum(padded[i * move:i * move + kh, j * move:j * move + kw] * kernel)
    return out


def right(image, kernel, stride=1):
    return _loop(image, kernel, stride)


def stub(image, kernel, stride=1):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_strided_right_answers_pass(hidden, capsys):
    check_correlate2d_strided(right, hidden=hidden)
    check_correlate2d_strided(
        lambda im, k, s: F.conv2d(torch.from_numpy(im)[None, None], torch.from_numpy(k)[None, None], stride=s)[0, 0],
        hidden=hidden)
    assert capsys.readouterr().out.count("all checks passed") == 2


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (lambda im, k, s: None, "forget `return`"),
    (lambda im, k, s: _loop(im, k, s, flip=True), "kernel is flipped"),
    (lambda im, k, s: _loop(im, k, 1), "stride seems to be ignored"),
    (lambda im, k, s: _loop(im, k, s, plus_one=False), "first window sits at 0"),
    (lambda im, k, s: _loop(im, k, s, floor=False), "round down"),
    (lambda im, k, s: _loop(im, k, s, step=1), "windows move by 1"),
    (lambda im, k, s: _loop(im, k.T, s), "kernel is transposed"),
    (lambda im, k, s: _loop(im, k, s).T, "rows and columns are swapped"),
    (lambda im, k, s: _loop(im, k, s).T if s > 1 else _loop(im, k, s), "rows and columns are swapped"),
    (lambda im, k, s: np.zeros((-(-im.shape[0] // s), -(-im.shape[1] // s))), "fit inside the image"),
    (lambda im, k, s: np.zeros((1, 2, 3)), "H_out = floor"),
    (lambda im, k, s: _loop(im, k, s) + 1, "outputs are wrong, the first at \\(0, 0\\)"),
    (lambda im, k, s: im[100], "IndexError"),
])
def test_strided_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_correlate2d_strided(wrong)


def test_cases_have_asymmetric_kernels_and_floor_matters():
    from cnnlib.checks.convolution import _strided_cases

    cases = _strided_cases(hidden=True)
    assert all(not np.array_equal(k, k[::-1, ::-1]) for _, k, _ in cases)
    assert any((im.shape[0] - k.shape[0]) % s for im, k, s in cases[:3])   # rounding down is tested publicly


def test_strided_transposed_non_square_output():
    def transposed_when_not_square(im, k, s):
        out = _loop(im, k, s)
        return out.T if out.shape[0] != out.shape[1] else out

    with pytest.raises(CheckFailed, match="first axis is the height"):
        check_correlate2d_strided(transposed_when_not_square, hidden=True)  # (2, 3) comes back (3, 2)


def test_conv_constants_match_pytorch():
    conv = nn.Conv2d(3, 6, kernel_size=(5, 3), stride=2)
    out = conv(torch.zeros(CONV_INPUT))
    assert tuple(out.shape) == CONV_OUT_SHAPE == (8, 6, 15, 14) and out.shape[1] == CONV_MAPS
    assert tuple(conv.weight.shape) == CONV_WEIGHT_SHAPE


def test_conv_right_answers_pass(capsys):
    check_conv_answers((8, 6, 15, 14), 6, (6, 3, 5, 3))
    check_conv_answers(torch.Size([8, 6, 15, 14]), 6.0, [6, 3, 5, 3])
    assert capsys.readouterr().out.count("all checks passed") == 2


W = (6, 3, 5, 3)


@pytest.mark.parametrize("answers, hint", [
    ((..., 6, W), "out_shape is not implemented"),
    (((8, 6, 15, 14), ..., W), "num_feature_maps is not implemented"),
    (((8, 6, 15, 14), 6, None), "weight_shape is not implemented"),
    (((6, 15, 14), 6, W), "keep the batch axis"),
    (((8, 6, 15), 6, W), "four axes"),
    (((8, 15, 14, 6), 6, W), "channels second"),
    (((1, 6, 15, 14), 6, W), "batch size"),
    (((8, 3, 15, 14), 6, W), "not one per input channel"),
    (((8, 18, 15, 14), 6, W), "do not multiply by in_channels"),
    (((8, 5, 15, 14), 6, W), "one channel per filter"),
    (((8, 6, 29, 28), 6, W), "stride 1"),
    (((8, 6, 16, 13), 6, W), "the height comes first"),
    (((8, 6, 14, 13), 6, W), "the \\+1"),
    (((8, 6, 15, 14.5), 6, W), "whole numbers"),
    (((8, 6, 15, 15), 6, W), "round down"),
    (((8, 6, 14, 15), 6, W), "swapped"),
    (((8, 6, 7, 7), 6, W), "each axis on its own"),
    (("8x6x15x14", 6, W), "tuple of sizes"),
    (((8, 6, 15, 14), 3, W), "number of filters is out_channels"),
    (((8, 6, 15, 14), 18, W), "ONE feature map"),
    (((8, 6, 15, 14), 8, W), "batch size"),
    (((8, 6, 15, 14), 2, W), "one feature map per filter"),
    (((8, 6, 15, 14), 6, (6, 5, 3)), "as many channels as its input"),
    (((8, 6, 15, 14), 6, (3, 6, 5, 3)), "filters first"),
    (((8, 6, 15, 14), 6, (6, 3, 3, 5)), "height comes first"),
    (((8, 6, 15, 14), 6, (5, 3, 3, 6)), "TensorFlow"),
    (((8, 6, 15, 14), 6, (6, 3, 15)), "in_channels / groups"),
])
def test_conv_wrong_answers(answers, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_conv_answers(*answers)


# ------------------------------------------------------------------ exercise 3: two stacked kernels

def test_stacked_constants_match_pytorch():
    """Two stacked bias-free correlations equal one F.conv2d with the full TRUE convolution
    K1 * K2 (cnnlib.ops.convolve2d, itself tested against scipy): its shape and the output's."""
    from cnnlib.ops.signal import convolve2d, correlate2d
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 1, *STACK_INPUT, generator=g, dtype=torch.float64)
    k1 = torch.randn(*STACK_K1, generator=g, dtype=torch.float64)
    k2 = torch.randn(*STACK_K2, generator=g, dtype=torch.float64)
    z = F.conv2d(F.conv2d(x, k1[None, None]), k2[None, None])
    k = torch.from_numpy(convolve2d(k1.numpy(), k2.numpy(), "full").copy())
    assert tuple(k.shape) == STACK_KERNEL == (7, 5) and tuple(z.shape[2:]) == STACK_OUT == (12, 21)
    assert torch.allclose(z, F.conv2d(x, k[None, None]))
    wrong = torch.from_numpy(correlate2d(k1.numpy(), k2.numpy(), "full").copy())
    assert not torch.allclose(z, F.conv2d(x, wrong[None, None]))


def test_stacked_right_answers_pass(capsys):
    check_stacked_kernel((7, 5), (12, 21))
    check_stacked_kernel(torch.Size([7, 5]), [12.0, 21.0])
    assert capsys.readouterr().out.count("all checks passed") == 2


Z = (12, 21)


@pytest.mark.parametrize("answers, hint", [
    ((..., Z), "kernel_shape is not implemented"),
    (((7, 5), ...), "z_shape is not implemented"),
    (((7, 5, 1), Z), "two numbers"),
    (((8, 6), Z), "one too many per axis"),
    (((15, 8), Z), "do not multiply"),
    (((5, 4), Z), "larger than either"),
    (((5, 7), Z), "swapped"),
    (((6, 6), Z), "not square"),
    (((5, 5), Z), "not square"),                      # the lesson's two 3x3 kernels
    (((9, 4), Z), "follow one output"),
    (("7x5", Z), "tuple of sizes"),
    (((7, 5), (1, 1, 12, 21)), "spatial shape \(H, W\) only"),
    (((7, 5), (12,)), "two numbers"),
    (((7, 5), (14, 24)), "first layer only"),
    (((7, 5), (16, 22)), "second kernel alone"),
    (((7, 5), (10, 19)), "missing \(twice\)"),
    (((7, 5), (11, 20)), "one position short"),
    (((7, 5), (21, 12)), "swapped"),
    (((7, 5), (3, 3)), "once per layer"),
])
def test_stacked_wrong_answers(answers, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_stacked_kernel(*answers)


# ------------------------------------------------------------------ exercise 4: conv backward

def backward_right(dout, x, w):
    k_h, k_w = w.shape[2:]
    h_out, w_out = dout.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k_h, k_w), axis=(2, 3))
    dw = np.einsum("nfij,ncijuv->fcuv", dout, windows)
    dx = _dx_with(dout, w)
    return dx, dw, dout.sum(axis=(0, 2, 3))


def backward_autograd(dout, x, w):
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    F.conv2d(xt, wt, bt).backward(torch.from_numpy(dout))
    return xt.grad, wt.grad, bt.grad


def _with(part, value_fn):
    def fn(dout, x, w):
        got = list(backward_right(dout, x, w))
        got[part] = value_fn(dout, x, w, got[part])
        return tuple(got)
    return fn


BACKWARD_WRONG = [
    (lambda d, x, w: (_ for _ in ()).throw(NotImplementedError()), "not implemented"),
    (lambda d, x, w: None, "forget `return`"),
    (lambda d, x, w: backward_right(d, x, w)[:2], "three arrays"),
    (lambda d, x, w: x[9], "IndexError"),
    (_with(2, lambda d, x, w, db: d[0].sum(axis=(1, 2))), "first image only"),
    (_with(2, lambda d, x, w, db: db * 2), "constant factor of 2"),
    (_with(2, lambda d, x, w, db: db + 1), "which outputs did the bias"),
    (_with(2, lambda d, x, w, db: d.sum(axis=(2, 3))), "one entry per filter"),
    (_with(1, lambda d, x, w, dw: backward_right(d[:1], x[:1], w)[1]), "summed over the whole batch"),
    (_with(1, lambda d, x, w, dw: dw[:, :, ::-1, ::-1]), "dw is flipped"),
    (_with(1, lambda d, x, w, dw: dw.transpose(1, 0, 2, 3)), "axes are swapped"),
    (_with(1, lambda d, x, w, dw: dw + 1), "of dw are wrong"),
    (_with(0, lambda d, x, w, dx: _dx_with(d, w[:, :, ::-1, ::-1])), "kernel flipped"),
    (_with(0, lambda d, x, w, dx: dx[:, :, 1:]), "shape of x"),
    (_with(0, lambda d, x, w, dx: dx * 0.5), "constant factor of 0.5"),
    (_with(0, lambda d, x, w, dx: dx + (np.arange(dx.shape[-1]) == 0)), "wrong near the border"),
    (_with(0, lambda d, x, w, dx: dx + 1), "of dx are wrong"),
]


def test_conv2d_backward_right_answers_pass(capsys):
    check_conv2d_backward(backward_right, hidden=True)
    check_conv2d_backward(backward_autograd, hidden=True)
    out = capsys.readouterr().out
    assert out.count("all checks passed") == 2 and "why:" in out and "WRONG" not in out
    assert out.count("numerical gradient check") == 8


@pytest.mark.parametrize("wrong, hint", BACKWARD_WRONG)
def test_conv2d_backward_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_conv2d_backward(wrong, hidden=True)


def test_numerical_gradient_and_relative_error():
    x = np.array([1.0, -2.0, 3.0])
    assert np.allclose(numerical_gradient(lambda v: float((v ** 3).sum()), x.copy()), 3 * x ** 2, atol=1e-5)
    assert relative_error(x, x) == 0 and relative_error(x, -x) == pytest.approx(1.0)
    with pytest.raises(TypeError, match="x must be a float64"):
        numerical_gradient(lambda v: 0.0, np.zeros(3, dtype=np.float32))


# ------------------------------------------------------------------ no check gives the answer away
# (check, args, kwargs, strings of the right value(s) that must not appear in the message or stdout)

def _flat_strings(a):
    return [f"{v:.4g}" for v in np.asarray(a).ravel()[:3]]


def _backward_reference_strings():
    from cnnlib.checks.convolution import _backward_cases
    from cnnlib.ops import im2col

    x, w, b, dout = _backward_cases(False)[0]
    _, cache = im2col.conv2d_forward(x, w, b)
    dx, dw, db = im2col.conv2d_backward(dout, cache)
    return _flat_strings(dx) + _flat_strings(dw) + _flat_strings(db)


_SHAPE_ANSWER = ["(8, 6, 14, 14)", "14, 14", "(6, 3, 5, 5)"]
LEAK_CASES = [
    (check_correlate2d_strided, (lambda im, k, s: _loop(im, k, 1),), {}, ["(2, 3)", "(3, 3)"]),
    # wrong only from the second case on (image (8, 7), kernel (3, 2), stride 2 -> 3 x 3), so that
    # "(3, 3)" can only come from the expected output, not from the first case's 3x3 kernel
    (check_correlate2d_strided, (lambda im, k, s: _loop(im, k, s, plus_one=s == 1),), {}, ["(3, 3)"]),
    (check_correlate2d_strided, (lambda im, k, s: _loop(im, k, s, floor=False),), {}, ["(3, 3)"]),
    (check_correlate2d_strided, (lambda im, k, s: _loop(im, k, s) + (s > 1),), {}, ["(3, 3)"]),
    (check_conv_answers, ((8, 6, 29, 28), 6, W), {}, ["15", "14"]),
    (check_conv_answers, ((8, 6, 14, 13), 6, W), {}, ["15", "(14"]),
    (check_conv_answers, ((8, 6, 15, 15), 6, W), {}, ["14"]),
    (check_conv_answers, ((8, 6, 16, 13), 6, W), {}, ["15", "14"]),
    (check_conv_answers, ((8, 3, 15, 14), 6, W), {}, ["6 ", "= 6", "(8, 6"]),
    (check_conv_answers, ((8, 18, 15, 14), 6, W), {}, ["6 ", "= 6", "(8, 6"]),
    (check_conv_answers, ((8, 6, 15, 14), 18, W), {}, ["6 ", "= 6"]),
    (check_conv_answers, ((8, 6, 15, 14), 3, W), {}, ["6 ", "= 6"]),
    (check_conv_answers, ((8, 6, 15, 14), 6, (3, 6, 5, 3)), {}, ["(6, 3, 5, 3)"]),
    (check_conv_answers, ((8, 6, 15, 14), 6, (6, 3, 3, 5)), {}, ["(6, 3, 5, 3)"]),
    (check_conv2d_backward, (_with(2, lambda d, x, w, db: d[0].sum(axis=(1, 2))),), {}, _backward_reference_strings()),
    (check_conv2d_backward, (_with(1, lambda d, x, w, dw: dw[:, :, ::-1, ::-1]),), {}, _backward_reference_strings()),
    (check_conv2d_backward, (_with(0, lambda d, x, w, dx: _dx_with(d, w[:, :, ::-1, ::-1])),), {},
     _backward_reference_strings()),
    # and no hint spells out the solution's formula
    (check_conv2d_backward, (_with(0, lambda d, x, w, dx: dx + 1),), {}, ["dout[n, f, i, j] * w", "dx[n, :, i + u"]),
    (check_conv2d_backward, (_with(2, lambda d, x, w, db: db + 1),), {}, ["db[f] = sum", "sum of dout"]),
    (check_correlate2d_strided, (lambda im, k, s: _loop(im, k, s) + 1,), {}, ["image[i*stride", "* kernel)"]),
    (check_stacked_kernel, ((8, 6), Z), {}, ["(7, 5)", "7x5", "k1 + k2 - 1", "(12, 21)"]),
    (check_stacked_kernel, ((6, 6), Z), {}, ["(7, 5)", "7x5", "(12, 21)"]),
    (check_stacked_kernel, ((5, 5), Z), {}, ["(7, 5)", "7x5", "(12, 21)"]),
    (check_stacked_kernel, ((15, 8), Z), {}, ["(7, 5)", "7x5", "(12, 21)"]),
    (check_stacked_kernel, ((7, 5), (14, 24)), {}, ["(12, 21)", "12x21", "12", "21"]),
    (check_stacked_kernel, ((7, 5), (10, 19)), {}, ["(12, 21)", "12", "21"]),
    (check_stacked_kernel, ((7, 5), (21, 12)), {}, ["(12, 21)"]),
]

# Compute exercises: the values of their answers, which no cell above the exercise may show.
EXERCISE_ANSWERS = {
    "02_convolution.ipynb": {"ex2-answer": ["(8, 6, 15, 14)", "(6, 3, 5, 3)"],
                             "ex3-size-answer": ["(7, 5)", "7x5", "7 x 5", "(12, 21)", "12x21"]},
}

# LEAK_CASES are run by tests/test_checks_no_leak.py (whole numbers matched as numbers).

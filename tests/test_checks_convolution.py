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
    check_conv_answers,
    check_correlate2d_strided,
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
    (lambda im, k, s: _loop(im, k, s) + 1, "out\\[i, j\\] = sum"),
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
    conv = nn.Conv2d(3, 6, kernel_size=5, stride=2)
    out = conv(torch.zeros(CONV_INPUT))
    assert tuple(out.shape) == CONV_OUT_SHAPE and out.shape[1] == CONV_MAPS
    assert tuple(conv.weight.shape) == CONV_WEIGHT_SHAPE


def test_conv_right_answers_pass(capsys):
    check_conv_answers((8, 6, 14, 14), 6, (6, 3, 5, 5))
    check_conv_answers(torch.Size([8, 6, 14, 14]), 6.0, [6, 3, 5, 5])
    assert capsys.readouterr().out.count("all checks passed") == 2


@pytest.mark.parametrize("answers, hint", [
    ((..., 6, (6, 3, 5, 5)), "out_shape is not implemented"),
    (((8, 6, 14, 14), ..., (6, 3, 5, 5)), "num_feature_maps is not implemented"),
    (((8, 6, 14, 14), 6, None), "weight_shape is not implemented"),
    (((6, 14, 14), 6, (6, 3, 5, 5)), "keep the batch axis"),
    (((8, 6, 14), 6, (6, 3, 5, 5)), "four axes"),
    (((8, 14, 14, 6), 6, (6, 3, 5, 5)), "channels second"),
    (((1, 6, 14, 14), 6, (6, 3, 5, 5)), "batch size"),
    (((8, 3, 14, 14), 6, (6, 3, 5, 5)), "not in_channels"),
    (((8, 18, 14, 14), 6, (6, 3, 5, 5)), "not 6 \\* 3"),
    (((8, 5, 14, 14), 6, (6, 3, 5, 5)), "one channel per filter"),
    (((8, 6, 28, 28), 6, (6, 3, 5, 5)), "stride 1"),
    (((8, 6, 13, 13), 6, (6, 3, 5, 5)), "the \\+1"),
    (((8, 6, 13.5, 13.5), 6, (6, 3, 5, 5)), "whole numbers"),
    (((8, 6, 15, 15), 6, (6, 3, 5, 5)), "round down"),
    (((8, 6, 7, 7), 6, (6, 3, 5, 5)), "floor\\(\\(H - k\\)"),
    (("8x6x14x14", 6, (6, 3, 5, 5)), "tuple of sizes"),
    (((8, 6, 14, 14), 3, (6, 3, 5, 5)), "number of filters is out_channels"),
    (((8, 6, 14, 14), 18, (6, 3, 5, 5)), "ONE feature map"),
    (((8, 6, 14, 14), 8, (6, 3, 5, 5)), "batch size"),
    (((8, 6, 14, 14), 2, (6, 3, 5, 5)), "one feature map per filter"),
    (((8, 6, 14, 14), 6, (6, 5, 5)), "as many channels as its input"),
    (((8, 6, 14, 14), 6, (3, 6, 5, 5)), "filters first"),
    (((8, 6, 14, 14), 6, (5, 5, 3, 6)), "TensorFlow"),
    (((8, 6, 14, 14), 6, (6, 3, 25)), "in_channels / groups"),
])
def test_conv_wrong_answers(answers, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_conv_answers(*answers)

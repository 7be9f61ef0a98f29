"""cnnlib.checks.tensors: right answers pass, stubs fail with the not-implemented message,
typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnlib.checks import CheckFailed
from cnnlib.checks.tensors import (
    CONV_FEATURES,
    CONV_PARAMS,
    FC_PARAMS,
    TOTAL_PARAMS,
    VIDEO_BYTES,
    VIDEO_SHAPE,
    check_linear_backward,
    check_linear_forward,
    check_param_counts,
    check_video,
)
from cnnlib.shapes import count_params

RIGHT_SHAPE = (8, 3, 10 * 24, 480, 640)


def test_constants_match_pytorch():
    assert VIDEO_SHAPE == RIGHT_SHAPE and VIDEO_BYTES == torch.empty(RIGHT_SHAPE, device="meta").nbytes
    with torch.device("meta"):
        fc = nn.Linear(3 * 480 * 640, 1)
        conv = nn.Conv2d(3, 8, kernel_size=5, stride=3)
        n_out = conv(torch.empty(1, 3, 480, 640)).numel()
        model = nn.Sequential(conv, nn.Flatten(), nn.Linear(n_out, 1))
    assert (count_params(fc), count_params(conv), count_params(model)) == (FC_PARAMS, CONV_PARAMS, TOTAL_PARAMS)
    assert (FC_PARAMS, CONV_PARAMS, TOTAL_PARAMS) == (921_601, 608, 270_273)


def test_video_right_answers_pass(capsys):
    check_video(RIGHT_SHAPE, VIDEO_BYTES)
    check_video(torch.Size(RIGHT_SHAPE), float(VIDEO_BYTES))
    check_video(list(RIGHT_SHAPE), torch.tensor(VIDEO_BYTES))
    assert capsys.readouterr().out.count("all checks passed") == 3


@pytest.mark.parametrize("shape, nbytes, hint", [
    (..., ..., "video_shape is not implemented"),
    (RIGHT_SHAPE, ..., "video_bytes is not implemented"),
    ((8, 3, 240, 640, 480), VIDEO_BYTES, "width x height"),
    ((8, 240, 3, 480, 640), VIDEO_BYTES, "channels before time"),
    ((8, 240, 480, 640, 3), VIDEO_BYTES, "channels-last"),
    ((8, 3, 10, 480, 640), VIDEO_BYTES, "number of seconds"),
    ((8, 3, 100, 480, 640), VIDEO_BYTES, "how many frames does each second hold"),
    ((1, 3, 240, 480, 640), VIDEO_BYTES, "N counts the clips"),
    ((8, 1, 240, 480, 640), VIDEO_BYTES, "3 channels"),
    ((240, 3, 480, 640), VIDEO_BYTES, "one clip's"),
    ((3, 480, 640), VIDEO_BYTES, "five axes"),
    ((8, 2, 7, 48, 64), VIDEO_BYTES, "order \\(N, C, T, H, W\\)"),
    (("T", "C", "H", "W"), VIDEO_BYTES, "tuple of sizes"),
    (RIGHT_SHAPE, VIDEO_BYTES // 4, "number of elements"),
    (RIGHT_SHAPE, VIDEO_BYTES * 2, "float64"),
    (RIGHT_SHAPE, VIDEO_BYTES * 8, "bits"),
    (RIGHT_SHAPE, 12345, "count the elements of the shape first"),
    (RIGHT_SHAPE, VIDEO_BYTES + 0.5, "whole number"),
    (RIGHT_SHAPE, "3.5 GB", "whole number"),
])
def test_video_wrong_answers(shape, nbytes, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_video(shape, nbytes)


def linear_right(x, weight, bias=None):
    y = x @ weight.T
    return y if bias is None else y + bias


def linear_stub(x, weight, bias=None):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_linear_right_answers_pass(hidden, capsys):
    check_linear_forward(linear_right, hidden=hidden)
    check_linear_forward(torch.nn.functional.linear, hidden=hidden)
    check_linear_forward(lambda x, w, b: linear_right(x.numpy(), w.numpy(), None if b is None else b.numpy()), hidden=hidden)
    assert capsys.readouterr().out.count("all checks passed") == 3


@pytest.mark.parametrize("wrong, hint", [
    (linear_stub, "not implemented"),
    (lambda x, w, b: None, "forget `return`"),
    (lambda x, w, b: x @ w.T + b, "bias may be None"),
    (lambda x, w, b: x @ w if b is None else x @ w + b, "x @ weight.T"),
    (lambda x, w, b: x @ w.T, "bias is missing"),
    (lambda x, w, b: linear_right(x, w) - (0 if b is None else b), "subtracted"),
    (lambda x, w, b: linear_right(x, w, b).T, "result is \\(out, N\\)"),
    (lambda x, w, b: linear_right(x, w, b).sum(dim=1), "keep the batch axis"),
    (lambda x, w, b: linear_right(x, w, b)[:1], "gives \\(N, out\\)"),
    (lambda x, w, b: 2 * linear_right(x, w, b), "sum over i"),
    (lambda x, w, b: 1 / 0, "ZeroDivisionError"),
])
def test_linear_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_linear_forward(wrong)


def test_linear_square_missing_transpose():
    # passes the non-square cases only if it transposes when needed: caught on the square one
    def sneaky(x, w, b):
        y = x @ (w.T if w.shape[0] != w.shape[1] else w)
        return y if b is None else y + b
    with pytest.raises(CheckFailed, match="transpose"):
        check_linear_forward(sneaky)


def test_param_counts_right_answers_pass(capsys):
    check_param_counts(921_601, 608, 270_273)
    check_param_counts(921_601.0, torch.tensor(608), np.int64(270_273))
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answers, hint", [
    ((..., 608, 270_273), "fc_params is not implemented"),
    ((921_601, None, 270_273), "conv_params is not implemented"),
    ((921_601, 608, ...), "total_params is not implemented"),
    ((921_600, 608, 270_273), "one bias"),
    ((307_201, 608, 270_273), "3 values per pixel: 3"),
    ((307_200, 608, 270_273), "and the output has a bias"),
    ((12, 608, 270_273), "count the input values of one image first"),
    ((921_601, 600, 270_273), "one bias per filter \\(8\\)"),
    ((921_601, 208, 270_273), "as many channels as its input"),
    ((921_601, 200, 270_273), "one slice per input channel"),
    ((921_601, 603, 270_273), "not per input channel"),
    ((921_601, 1, 270_273), "count one filter's weights first"),
    ((921_601, 608, 269_665), "own parameters"),
    ((921_601, 608, 270_272), "bias too"),
    ((921_601, 608, 270_264), "convolution's biases"),
    ((921_601, 608, 8 * 476 * 636 + 1 + 608), "stride moves"),
    ((921_601, 608, 8 * 160 * 213 + 1 + 608), "round down"),
    ((921_601, 608, 159 * 212 + 1 + 608), "8 channels"),
    ((921_601, 608, 5), "trace the convolution's output shape first"),
    ((921_601, 608.5, 270_273), "whole number"),
])
def test_param_counts_wrong_answers(answers, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_param_counts(*answers)


def backward_right(x, w, dout):
    return dout @ w, dout.T @ x, dout.sum(0)


@pytest.mark.parametrize("hidden", [False, True])
def test_linear_backward_right_answer_passes(hidden, capsys):
    check_linear_backward(backward_right, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, w, d: (_ for _ in ()).throw(NotImplementedError()), "not implemented"),
    (lambda x, w, d: None, "forget `return"),
    (lambda x, w, d: (d @ w, d.T @ x), "three tensors"),
    (lambda x, w, d: (d @ w.T, d.T @ x, d.sum(0)), "inner sizes"),
    (lambda x, w, d: (x, d.T @ x, d.sum(0)), "which y's each x\\[n, i\\] reaches"),
    (lambda x, w, d: (d @ w, x.T @ d, d.sum(0)), "that is \\(in, out\\)"),
    (lambda x, w, d: (d @ w, d.T @ x / len(x), d.sum(0)), "do not average"),
    (lambda x, w, d: (d @ w, d.T @ x, d), "dbias is dout itself"),
    (lambda x, w, d: (d @ w, d.T @ x, d.mean(0)), "mean over the batch"),
    (lambda x, w, d: (d @ w, -(d.T @ x), d.sum(0)), "which elements of y one weight"),
])
def test_linear_backward_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_linear_backward(wrong)


def test_linear_backward_square_transposes():
    def dx_transposed(x, w, d):
        dx = d @ w.T if w.shape[0] == w.shape[1] else d @ w
        return dx, d.T @ x, d.sum(0)

    def dw_transposed(x, w, d):
        dw = x.T @ d if w.shape[0] == w.shape[1] else d.T @ x
        return d @ w, dw, d.sum(0)

    with pytest.raises(CheckFailed, match="no transpose"):
        check_linear_backward(dx_transposed)
    with pytest.raises(CheckFailed, match="that is the transpose"):
        check_linear_backward(dw_transposed)


# (check, args, kwargs, strings of the right value that must not appear in the feedback)
LEAK_CASES = [
    (check_video, ((8, 3, 240, 640, 480), VIDEO_BYTES), {}, ["(8, 3, 240, 480, 640)", "480, 640"]),
    (check_video, ((8, 3, 10, 480, 640), VIDEO_BYTES), {}, ["240", "(8, 3, 240, 480, 640)"]),
    (check_video, ((8, 240, 3, 480, 640), VIDEO_BYTES), {}, ["(8, 3, 240, 480, 640)"]),
    (check_video, (RIGHT_SHAPE, VIDEO_BYTES // 4), {}, ["7,077,888,000", "7077888000"]),
    (check_video, (RIGHT_SHAPE, VIDEO_BYTES * 2), {}, ["7,077,888,000", "7077888000"]),
    (check_video, (RIGHT_SHAPE, VIDEO_BYTES // 4 // 4 * 4), {}, ["7,077,888,000", "7077888000"]),
    (check_param_counts, (FC_PARAMS - 1, CONV_PARAMS, TOTAL_PARAMS), {}, ["921,601", "921601"]),
    (check_param_counts, (FC_PARAMS, CONV_PARAMS - 8, TOTAL_PARAMS), {}, ["608"]),
    (check_param_counts, (FC_PARAMS, CONV_PARAMS, CONV_FEATURES + 1), {}, ["270,273", "270273", "269,664", "159 x 212"]),
    (check_param_counts, (FC_PARAMS, CONV_PARAMS, 12345), {}, ["270,273", "270273", "8 * 159 * 212", "159"]),
    # junk values reach the fallback hints: they must not hand over the recipe
    (check_video, ((8, 3, 5, 480, 640), VIDEO_BYTES), {}, ["240", "10 * 24", "24 frames/s", "10*24"]),
    (check_video, ((123,), VIDEO_BYTES), {}, ["240", "(8, 3, 240, 480, 640)"]),
    (check_video, (RIGHT_SHAPE, 123), {}, ["7077888000", "T * H * W * 4", "* 4"]),
    (check_video, (RIGHT_SHAPE, 5), {}, ["7077888000", "T * H * W * 4", "* 4"]),
    (check_param_counts, (5, CONV_PARAMS, TOTAL_PARAMS), {}, ["921601", "3 * 480 * 640", "plus one bias"]),
    (check_param_counts, (123, CONV_PARAMS, TOTAL_PARAMS), {}, ["921601", "3 * 480 * 640"]),
    (check_param_counts, (FC_PARAMS, 5, TOTAL_PARAMS), {}, ["608", "in_channels * 5 * 5", "filters *"]),
    (check_param_counts, (FC_PARAMS, 123, TOTAL_PARAMS), {}, ["608", "in_channels * 5 * 5"]),
    (check_linear_backward, (lambda x, w, d: (2 * d @ w, d.T @ x, d.sum(0)),), {},
     ["sum over o of dout", "dout[n, o] * weight[o, i]"]),
    (check_linear_backward, (lambda x, w, d: (d @ w, 2 * d.T @ x, d.sum(0)),), {},
     ["sum over the batch of dout", "dout[n, o] * x[n, i]"]),
    (check_linear_forward, (lambda x, w, b: (x @ w.T).T,), {}, ["expected", "(4, 1)"]),
    (check_linear_forward, (lambda x, w, b: x @ w.T,), {}, ["expected"]),
    (check_linear_backward, (lambda x, w, d: (d @ w, x.T @ d, d.sum(0)),), {}, ["expected", "shape (2, 3):"]),
    (check_linear_backward, (lambda x, w, d: (d @ w, d.T @ x, d),), {}, ["(2,)", "expected"]),
    (check_linear_backward, (lambda x, w, d: (d @ w.T, d.T @ x, d.sum(0)),), {}, ["d @ w", "dout @ weight"]),
]

EXERCISE_ANSWERS = {"01_tensors_and_linear.ipynb": {
    "ex1-answer": ["7077888000"],
    "ex3-answer": ["921601", "608", "270273"],
}}

# LEAK_CASES are run by tests/test_checks_no_leak.py (whole numbers matched as numbers).

"""cnnlib.checks.pooling: right answers pass, stubs fail with the not-implemented message,
typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlib.checks import CheckFailed
from cnnlib.checks.pooling import (
    POOL_EXPECTED,
    check_max_pool_2x2,
    check_max_pool_2x2_backward,
    check_max_pool_2x2_gradient,
    check_pool_output_shape,
)
from cnnlib.ops import im2col as ops_im2col
from cnnlib.ops import loops


def crop(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2]


def windows(x):
    """(N, C, H, W) -> (N, C, H//2, W//2, 4): the four values of each 2x2 window."""
    x = crop(x)
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)


def pool_right(x):
    return windows(x).max(axis=-1)


def pool_stub(x):
    raise NotImplementedError()


def backward_right(dout, x):
    _, cache = loops.max_pool2d_forward(x, 2)
    return loops.max_pool2d_backward(dout, cache)


@pytest.mark.parametrize("hidden", [False, True])
def test_max_pool_right_answers_pass(hidden, capsys):
    check_max_pool_2x2(pool_right, hidden=hidden)
    check_max_pool_2x2(lambda x: torch.nn.functional.max_pool2d(torch.from_numpy(x), 2), hidden=hidden)
    check_max_pool_2x2_backward(backward_right, hidden=hidden)
    assert capsys.readouterr().out.count("all checks passed") == 3


def _no_floor(x):
    n, c, h, w = x.shape
    out = np.full((n, c, -(-h // 2), -(-w // 2)), -np.inf)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3))
    return out


def _zero_start(x):
    return np.maximum(pool_right(x), 0)


@pytest.mark.parametrize("wrong, hint, hidden", [
    (pool_stub, "not implemented", False),
    (lambda x: None, "forget `return`", False),
    (lambda x: windows(x).mean(axis=-1), "average", False),
    (lambda x: np.broadcast_to(pool_right(x).max(axis=1, keepdims=True), pool_right(x).shape), "over the channels", False),
    (_zero_start, "start the running maximum", False),
    (lambda x: crop(x)[:, :, ::2, ::2], "top-left", False),
    (lambda x: windows(x).min(axis=-1), "minimum", False),
    (lambda x: windows(x)[..., 1], "maximum of x\\[:, :, 2i", False),
    (lambda x: np.maximum(np.maximum(x[:, :, 1:, 1:], x[:, :, :-1, :-1]), np.maximum(x[:, :, 1:, :-1], x[:, :, :-1, 1:])), "overlap", False),
    (lambda x: x, "input's size", False),
    (lambda x: pool_right(x)[:, 0], "keep the batch and channel", False),
    (lambda x: pool_right(x)[:, :, :1], "half the height", False),
    (_no_floor, "dropped \\(floor\\)", True),
    (lambda x: x.reshape(x.shape[0], x.shape[1], x.shape[2] // 2, 2, x.shape[3] // 2, 2).max(axis=(3, 5)), "crop first", True),
])
def test_max_pool_wrong_answers(wrong, hint, hidden):
    with pytest.raises(CheckFailed, match=hint):
        check_max_pool_2x2(wrong, hidden=hidden)


def _upsampled(dout, x):
    out = np.zeros(x.shape)
    h, w = dout.shape[2] * 2, dout.shape[3] * 2
    out[:, :, :h, :w] = dout.repeat(2, axis=2).repeat(2, axis=3)
    return out


def _mask_only(dout, x):
    return backward_right(np.ones_like(dout), x)


def _last_row_wrong(dout, x):
    dx = backward_right(dout, x)
    if x.shape[2] % 2:       # a learner who also routes gradient into the dropped last row
        dx[:, :, -1, :] += 1.0
    return dx


@pytest.mark.parametrize("wrong, hint, hidden", [
    (lambda dout, x: (_ for _ in ()).throw(NotImplementedError()), "not implemented", False),
    (lambda dout, x: _upsampled(dout, x) / 4, "average pooling's backward", False),
    (_upsampled, "copied to all four", False),
    (_mask_only, "multiply by dout", False),
    (lambda dout, x: dout, "shape of the input x", False),
    (lambda dout, x: -backward_right(dout, x), "position of the maximum", False),
    (_last_row_wrong, "belongs to no window", True),
])
def test_max_pool_backward_wrong_answers(wrong, hint, hidden):
    with pytest.raises(CheckFailed, match=hint):
        check_max_pool_2x2_backward(wrong, hidden=hidden)


def test_pool_output_shape(capsys):
    x = torch.zeros(8, 16, 17, 17)
    out = torch.nn.MaxPool2d(3, stride=2)(torch.nn.MaxPool2d(2)(x))
    assert tuple(out.shape) == POOL_EXPECTED
    check_pool_output_shape((8, 16, 3, 3))
    check_pool_output_shape(torch.Size([8, 16, 3, 3]))
    assert capsys.readouterr().out.count("all checks passed") == 2


@pytest.mark.parametrize("answer, hint", [
    (..., "not implemented yet: replace the `...`"),
    (None, "not implemented yet: replace the `...`"),
    (3, "should be a tuple"),
    ((16, 3, 3), "keep the batch axis"),
    ((8, 32, 3, 3), "channel"),
    ((4, 16, 3, 3), "batch size"),
    ((8, 16, 8, 8), "first pooling only"),
    ((8, 16, 4, 4), "rounds down"),
    ((8, 16, 2, 2), "given explicitly"),
    ((8, 16, 2.5, 2.5), "whole numbers"),
    ((8, 16, 5, 5), "to each pooling in turn, rounding down"),
])
def test_pool_output_shape_wrong(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_pool_output_shape(answer)


def test_gradient_check_passes_and_fails(capsys):
    check_max_pool_2x2_gradient(backward_right)
    assert "numerical gradient check" in capsys.readouterr().out
    for wrong, hint in [(lambda dout, x: _upsampled(dout, x) / 4, "relative error"),
                        (_mask_only, "relative error"),
                        (lambda dout, x: dout, "shape of the input"),
                        (lambda dout, x: (_ for _ in ()).throw(NotImplementedError()), "not implemented")]:
        with pytest.raises(CheckFailed, match=hint):
            check_max_pool_2x2_gradient(wrong)
    with pytest.raises(ValueError, match="eps"):
        check_max_pool_2x2_gradient(backward_right, eps=0.5)


def test_references_are_cnnlib_ops_and_match_pytorch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    dout = rng.standard_normal((2, 3, 3, 3))
    out, cache = ops_im2col.max_pool2d_forward(x, 2)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).backward(torch.tensor(dout))
    assert np.allclose(out, torch.nn.functional.max_pool2d(torch.tensor(x), 2).numpy())
    assert np.allclose(ops_im2col.max_pool2d_backward(dout, cache), xt.grad.numpy())


def _two_values_wrong(x):
    out = pool_right(x).copy()
    out.flat[0] += 1.0
    return out


# (check, args, kwargs, strings of the right value that must not appear in the feedback)
LEAK_CASES = [
    (check_pool_output_shape, ((8, 16, 4, 4),), {}, ["(8, 16, 3, 3)", "3, 3"]),
    (check_pool_output_shape, ((8, 16, 2, 2),), {}, ["(8, 16, 3, 3)", "3, 3"]),
    (check_pool_output_shape, ((8, 16, 8, 8),), {}, ["(8, 16, 3, 3)", "3, 3"]),
    (check_pool_output_shape, ((8, 16, 5, 5),), {}, ["(8, 16, 3, 3)", "3, 3"]),
    (check_pool_output_shape, ((8, 16, 123, 123),), {}, ["(8, 16, 3, 3)", "17 -> 8", "-> 8"]),
    (check_pool_output_shape, ((8, 16, 7, 7),), {}, ["(8, 16, 3, 3)", "17 -> 8", "-> 8"]),
    (check_max_pool_2x2, (lambda x: x,), {}, ["(1, 1, 2, 2)", "expected"]),
    (check_max_pool_2x2, (lambda x: crop(x)[:, :, ::2, ::2],), {}, ["expected", "15"]),
    (check_max_pool_2x2, (_two_values_wrong,), {}, ["expected"]),
    (check_max_pool_2x2_backward, (_upsampled,), {}, ["expected"]),
    (check_max_pool_2x2_backward, (_mask_only,), {}, ["expected"]),
    (check_max_pool_2x2_gradient, (_mask_only,), {}, ["expected"]),
    (check_max_pool_2x2_gradient, (lambda dout, x: _upsampled(dout, x) / 4,), {}, ["expected"]),
]

EXERCISE_ANSWERS = {"04_pooling.ipynb": {"ex3-answer": ["(8, 16, 3, 3)"]}}

# LEAK_CASES are run by tests/test_checks_no_leak.py (whole numbers matched as numbers).

"""cnnlib.ops conv_transpose2d (loops and im2col) against F.conv_transpose2d and autograd."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib import ops
from cnnlib.ops import im2col, loops

IMPLS = [pytest.param(loops, id="loops"), pytest.param(im2col, id="im2col")]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The reference calls are tiny: one thread avoids thread spin-up costs on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_conv_transpose2d(x, w, b, dout, stride, padding, output_padding, dilation, groups):
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    bt = None if b is None else torch.from_numpy(b).requires_grad_()
    # Note F's argument order: ... output_padding, groups, dilation.
    out = F.conv_transpose2d(xt, wt, bt, stride, padding, output_padding, groups, dilation)
    out.backward(torch.from_numpy(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy()


@st.composite
def transpose_cases(draw, max_n: int, max_c: int, max_hw: int):
    """A valid conv_transpose2d configuration (incl. output_padding < max(stride, dilation))."""
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, max(1, max_c // groups)))
    c_out_per_group = draw(st.integers(1, max(1, max_c // groups)))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    hw = (draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw)))
    # Largest padding that still leaves an output of at least 1 pixel.
    padding = tuple(
        draw(st.integers(0, min(2, ((h - 1) * s + d * (k - 1) + op) // 2)))
        for h, s, d, k, op in zip(hw, stride, dilation, kernel, output_padding)
    )
    n = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in, *hw))
    w = rng.standard_normal((c_in, c_out_per_group, *kernel))
    b = rng.standard_normal(c_out_per_group * groups) if draw(st.booleans()) else None
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    return x, w, b, kw, rng


def check_against_torch(impl, x, w, b, kw, rng):
    out, cache = impl.conv_transpose2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)
    ref = torch_conv_transpose2d(x, w, b, dout, **kw)
    np.testing.assert_allclose(out, ref[0], rtol=1e-10, atol=1e-10)
    grads = impl.conv_transpose2d_backward(dout, cache)
    for ours, theirs in zip(grads, ref[1:]):
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    return out, dout, grads


@settings(max_examples=40, deadline=None)
@given(case=transpose_cases(max_n=2, max_c=4, max_hw=4))
def test_loops_conv_transpose2d_matches_torch_and_im2col(case):
    x, w, b, kw, rng = case
    out, dout, grads = check_against_torch(loops, x, w, b, kw, rng)
    out2, cache2 = im2col.conv_transpose2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(out2, out, rtol=1e-12, atol=1e-12)
    for g1, g2 in zip(grads, im2col.conv_transpose2d_backward(dout, cache2)):
        if g1 is None:
            assert g2 is None
        else:
            np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(case=transpose_cases(max_n=3, max_c=6, max_hw=8))
def test_im2col_conv_transpose2d_matches_torch(case):
    check_against_torch(im2col, *case)


@pytest.mark.parametrize("impl", IMPLS)
def test_transpose_is_the_input_gradient_of_conv2d(impl):
    """conv_transpose2d(dout, w) == d conv2d / d x applied to dout, with the same settings."""
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 4, 7, 8)), rng.standard_normal((6, 2, 3, 2))
    kw = dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2), groups=2)
    out, cache = impl.conv2d_forward(x, w, None, **kw)
    dout = rng.standard_normal(out.shape)
    dx = impl.conv2d_backward(dout, cache)[0]
    # output_padding picks the one of several input sizes that map to out's size.
    (h_out, w_out), (k_h, k_w) = out.shape[2:], w.shape[2:]
    op = (7 - ((h_out - 1) * 2 - 2 + 1 * (k_h - 1) + 1), 8 - ((w_out - 1) * 3 - 0 + 2 * (k_w - 1) + 1))
    y, _ = impl.conv_transpose2d_forward(dout, w, None, output_padding=op, **kw)
    np.testing.assert_allclose(y, dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_float32_stays_float32(impl):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    out, cache = impl.conv_transpose2d_forward(x, w, b, stride=2, padding=1, output_padding=1)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    grads = impl.conv_transpose2d_backward(dout, cache)
    assert out.shape == (2, 2, 8, 8)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    ref = torch_conv_transpose2d(x, w, b, dout, 2, 1, 1, 1, 1)
    for ours, theirs in zip((out, *grads), ref):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def numerical_grad(f, a, eps=1e-6):
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        plus = f()
        a[i] = old - eps
        minus = f()
        a[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("impl", IMPLS)
def test_conv_transpose2d_gradient_numerically(impl):
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 2, 2, 3)), rng.standard_normal(4)
    kw = dict(stride=(2, 1), padding=(0, 1), output_padding=(1, 0), dilation=(1, 2), groups=2)
    out, cache = impl.conv_transpose2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)

    def loss():
        return np.sum(impl.conv_transpose2d_forward(x, w, b, **kw)[0] * dout)

    dx, dw, db = impl.conv_transpose2d_backward(dout, cache)
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numerical_grad(loss, w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numerical_grad(loss, b), rtol=1e-6, atol=1e-8)


def test_convenience_conv_transpose2d():
    rng = np.random.default_rng(12)
    x, w = rng.standard_normal((1, 4, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(
        ops.conv_transpose2d(x, w, None, 2, 1, 1, 1, 2),
        F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), None, 2, 1, 1, 2, 1).numpy(),
    )


# --------------------------------------------------------------------------- bad input

X = np.zeros((2, 4, 3, 3))
W = np.zeros((4, 2, 3, 3))

BAD = [
    ((np.zeros((4, 3, 3)), W), {}, ValueError, r"x must have 4 dimensions \(N, C_in, H, W\)"),
    ((X.astype(np.int64), W), {}, TypeError, "x must be a floating-point array"),
    ((X, W), dict(stride=0), ValueError, "stride must be a positive integer, got 0"),
    ((X, W), dict(padding=-1), ValueError, "padding must be a non-negative integer, got -1"),
    ((X, W), dict(output_padding=-1), ValueError, "output_padding must be a non-negative integer"),
    ((X, W), dict(stride=2, output_padding=2), ValueError, "output_padding must be smaller than stride or dilation"),
    ((X, W), dict(output_padding=(0, 1)), ValueError, "output_padding must be smaller than stride or dilation"),
    ((X, W), dict(groups=3), ValueError, r"in_channels \(C_in=4\) must be divisible by groups=3"),
    ((X, np.zeros((3, 2, 3, 3))), {}, ValueError, r"w.shape\[0\] must equal C_in = 4"),
    ((X, np.zeros((4, 0, 3, 3))), {}, ValueError, "kH, kW >= 1"),
    ((X, W, np.zeros(4)), dict(groups=1), ValueError, r"b must have shape \(C_out,\) = \(2,\)"),
    ((X, W, np.zeros(2)), dict(groups=2), ValueError, r"b must have shape \(C_out,\) = \(4,\)"),
    ((np.zeros((1, 4, 1, 1)), W), dict(padding=2), ValueError, "padding=2 is too large"),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("args, kwargs, exc, match", BAD)
def test_conv_transpose2d_rejects_bad_input(impl, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        impl.conv_transpose2d_forward(*args, **kwargs)


@pytest.mark.parametrize("impl", IMPLS)
def test_conv_transpose2d_backward_checks_dout(impl):
    out, cache = impl.conv_transpose2d_forward(X, W)
    assert out.shape == (2, 2, 5, 5)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 2, 5, 5\)"):
        impl.conv_transpose2d_backward(np.zeros((2, 2, 4, 4)), cache)

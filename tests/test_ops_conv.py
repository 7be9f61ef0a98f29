"""cnnlib.ops conv2d (loops and im2col) against torch.nn.functional.conv2d and autograd."""
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


def torch_conv2d(x, w, b, dout, **kw):
    """Output and (dx, dw, db) of F.conv2d, backpropagating the given ``dout``."""
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    bt = None if b is None else torch.from_numpy(b).requires_grad_()
    out = F.conv2d(xt, wt, bt, **kw)
    out.backward(torch.from_numpy(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy()


@st.composite
def conv_cases(draw, max_n: int, max_c: int, max_hw: int):
    """A valid conv2d configuration with random float64 data (and a random dout)."""
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, max(1, max_c // groups)))
    c_out = groups * draw(st.integers(1, max(1, max_c // groups)))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hw = [
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max_hw))
        for k, d, p in zip(kernel, dilation, padding)
    ]
    n = draw(st.integers(1, max_n))
    bias = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in, *hw))
    w = rng.standard_normal((c_out, c_in // groups, *kernel))
    b = rng.standard_normal(c_out) if bias else None
    # Settings as ints when both sides agree, to exercise both spellings.
    kw = {
        name: (v[0] if v[0] == v[1] and draw(st.booleans()) else v)
        for name, v in dict(stride=stride, padding=padding, dilation=dilation).items()
    }
    kw["groups"] = groups
    return x, w, b, kw, rng


def check_against_torch(impl, x, w, b, kw, rng):
    out, cache = impl.conv2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)
    ref_out, ref_dx, ref_dw, ref_db = torch_conv2d(x, w, b, dout, **kw)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-10)
    dx, dw, db = impl.conv2d_backward(dout, cache)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-10, atol=1e-10)
    if b is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, ref_db, rtol=1e-10, atol=1e-10)
    assert dx.shape == x.shape and dw.shape == w.shape
    return out, dx, dw, db


@settings(max_examples=40, deadline=None)
@given(case=conv_cases(max_n=2, max_c=4, max_hw=6))
def test_loops_conv2d_matches_torch_and_im2col(case):
    x, w, b, kw, rng = case
    out = check_against_torch(loops, x, w, b, kw, rng)[0]
    # The two implementations agree with each other too (same dout).
    out2, cache2 = im2col.conv2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(out2, out, rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    for g1, g2 in zip(loops.conv2d_backward(dout, loops.conv2d_forward(x, w, b, **kw)[1]),
                      im2col.conv2d_backward(dout, cache2)):
        if g1 is None:
            assert g2 is None
        else:
            np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(case=conv_cases(max_n=3, max_c=6, max_hw=12))
def test_im2col_conv2d_matches_torch(case):
    check_against_torch(im2col, *case)


@pytest.mark.parametrize("impl", IMPLS)
def test_loops_and_im2col_backward_agree(impl):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    out, cache = impl.conv2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)
    other = im2col if impl is loops else loops
    out2, cache2 = other.conv2d_forward(x, w, b, **kw)
    for g1, g2 in zip(impl.conv2d_backward(dout, cache), other.conv2d_backward(dout, cache2)):
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_float32_stays_float32(impl):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out, cache = impl.conv2d_forward(x, w, b, stride=2, padding=1)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    grads = impl.conv2d_backward(dout, cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    ref = torch_conv2d(x, w, b, dout, stride=2, padding=1)
    for ours, theirs in zip((out, *grads), ref):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_mixed_dtypes_promote():
    x = np.ones((1, 1, 3, 3), np.float32)
    out = ops.conv2d(x, np.ones((1, 1, 2, 2)))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, 4.0)


def numerical_grad(f, a, eps=1e-6):
    """Central differences of the scalar function ``f()`` with respect to array ``a`` (in place)."""
    grad = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        plus = f()
        a[i] = old - eps
        minus = f()
        a[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("impl", IMPLS)
def test_conv2d_gradient_numerically(impl):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 1, 2, 3)), rng.standard_normal(2)
    kw = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    out, cache = impl.conv2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)

    def loss():  # L = sum(out * dout), so dL/dout = dout
        return np.sum(impl.conv2d_forward(x, w, b, **kw)[0] * dout)

    dx, dw, db = impl.conv2d_backward(dout, cache)
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numerical_grad(loss, w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numerical_grad(loss, b), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("impl", IMPLS)
def test_empty_batch(impl):
    """N = 0 works, as in PyTorch: empty outputs and input gradients, zero weight gradients."""
    x = np.zeros((0, 2, 7, 7))
    out, cache = impl.conv2d_forward(x, np.ones((4, 2, 3, 3)), np.ones(4))
    dx, dw, db = impl.conv2d_backward(np.zeros(out.shape), cache)
    assert out.shape == (0, 4, 5, 5) and dx.shape == x.shape and not dw.any() and not db.any()
    out, cache = impl.conv_transpose2d_forward(x, np.ones((2, 4, 3, 3)), None, stride=2)
    dx, dw, db = impl.conv_transpose2d_backward(np.zeros(out.shape), cache)
    assert out.shape == (0, 4, 15, 15) and dx.shape == x.shape and not dw.any() and db is None
    out, indices, cache = impl.max_pool2d_forward(x, 2, return_indices=True)
    assert out.shape == indices.shape == (0, 2, 3, 3)
    assert impl.max_pool2d_backward(np.zeros(out.shape), cache).shape == x.shape
    assert impl.max_unpool2d(out, indices, (7, 7)).shape == x.shape
    assert impl.max_unpool2d_backward(x, indices).shape == out.shape
    out, cache = impl.avg_pool2d_forward(x, 3, 1, 1)
    assert impl.avg_pool2d_backward(np.zeros(out.shape), cache).shape == x.shape == out.shape


def test_convenience_conv2d():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(
        ops.conv2d(x, w, padding=1), F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    )


# --------------------------------------------------------------------------- bad input

X = np.zeros((2, 4, 5, 5))
W = np.zeros((6, 4, 3, 3))

BAD = [
    # (args, kwargs, exception, message pattern)
    ((np.zeros((4, 5, 5)), W), {}, ValueError, r"x must have 4 dimensions \(N, C_in, H, W\)"),
    ((X.astype(np.int64), W), {}, TypeError, "x must be a floating-point array"),
    (([[1.0]], W), {}, TypeError, "x must be a NumPy array"),
    ((X, W[0]), {}, ValueError, "w must have 4 dimensions"),
    ((X, W), dict(padding=-1), ValueError, "padding must be a non-negative integer, got -1"),
    ((X, W), dict(stride=0), ValueError, "stride must be a positive integer, got 0"),
    ((X, W), dict(stride=(1, 0)), ValueError, r"stride\[1\] must be a positive integer"),
    ((X, W), dict(stride=1.5), TypeError, "stride must be a positive integer"),
    ((X, W), dict(stride=(1, 2, 3)), ValueError, "stride must be an int or a pair"),
    ((X, W), dict(dilation=0), ValueError, "dilation must be a positive integer"),
    ((X, W), dict(groups=0), ValueError, "groups must be a positive integer"),
    ((X, np.zeros((6, 4, 6, 3))), {}, ValueError, "kernel_size 6x3 is larger than the padded input 5x5"),
    (
        (np.zeros((1, 4, 4, 4)), W),
        dict(dilation=2),
        ValueError,
        r"kernel_size 3x3 \(effective 5x5 with dilation 2\) is larger than the padded input 4x4",
    ),
    ((X, np.zeros((6, 1, 3, 3))), dict(groups=3), ValueError, r"in_channels \(C_in=4\) must be divisible by groups=3"),
    ((X, np.zeros((5, 2, 3, 3))), dict(groups=2), ValueError, r"out_channels \(w.shape\[0\]=5\)"),
    ((X, np.zeros((6, 3, 3, 3))), {}, ValueError, r"w.shape\[1\] must equal C_in/groups = 4/1 = 4"),
    ((X, np.zeros((6, 4, 3, 3))), dict(groups=2), ValueError, r"C_in/groups = 4/2 = 2"),
    ((X, np.zeros((6, 4, 0, 3))), {}, ValueError, "kH, kW >= 1"),
    ((X, W, np.zeros(5)), {}, ValueError, r"b must have shape \(C_out,\) = \(6,\), got \(5,\)"),
    ((X, W, np.zeros((6, 1))), {}, ValueError, "b must have 1 dimensions"),
    ((X, W, 1.0), {}, TypeError, "b must be a NumPy array"),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("args, kwargs, exc, match", BAD)
def test_conv2d_rejects_bad_input(impl, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        impl.conv2d_forward(*args, **kwargs)


@pytest.mark.parametrize("impl", IMPLS)
def test_conv2d_backward_checks_dout(impl):
    out, cache = impl.conv2d_forward(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(1, 2, 2, 2\)"):
        impl.conv2d_backward(np.zeros((1, 2, 3, 3)), cache)

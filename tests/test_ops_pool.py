"""cnnlib.ops pooling (loops and im2col) against torch.nn.functional and autograd."""
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


@st.composite
def pool_cases(draw, max_n: int, max_c: int, max_hw: int):
    """A valid pooling configuration with random float64 data (distinct values: no ties)."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    hw = [draw(st.integers(max(1, k - 2 * p), max_hw)) for k, p in zip(kernel, padding)]
    shape = (draw(st.integers(1, max_n)), draw(st.integers(1, max_c)), *hw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding)
    if kernel[0] == kernel[1] and padding[0] == padding[1] and draw(st.booleans()):
        kw.update(kernel_size=kernel[0], padding=padding[0])  # the int spelling
    return x, kw, rng


def torch_pool(fn, x, dout, **kw):
    xt = torch.from_numpy(x).requires_grad_()
    out = fn(xt, **kw)
    if isinstance(out, tuple):
        out, indices = out
    out.backward(torch.from_numpy(dout))
    return out.detach().numpy(), xt.grad.numpy()


def check_max_pool(impl, x, kw, rng):
    out, indices, cache = impl.max_pool2d_forward(x, return_indices=True, **kw)
    dout = rng.standard_normal(out.shape)
    ref_out, ref_idx = F.max_pool2d(torch.from_numpy(x), return_indices=True, **kw)
    np.testing.assert_array_equal(out, ref_out.numpy())
    np.testing.assert_array_equal(indices, ref_idx.numpy())
    assert indices.dtype == np.int64
    _, ref_dx = torch_pool(F.max_pool2d, x, dout, **kw)
    dx = impl.max_pool2d_backward(dout, cache)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)

    # max_unpool2d puts the maxima back where they came from; and its backward.
    size = x.shape[2:]
    up = impl.max_unpool2d(out, indices, size)
    ref_up = F.max_unpool2d(ref_out, ref_idx, output_size=size, **kw)
    np.testing.assert_array_equal(up, ref_up.numpy())
    d_up = rng.standard_normal(up.shape)
    xt = ref_out.clone().requires_grad_()
    F.max_unpool2d(xt, ref_idx, output_size=size, **kw).backward(torch.from_numpy(d_up))
    np.testing.assert_array_equal(impl.max_unpool2d_backward(d_up, indices), xt.grad.numpy())
    return out, dx


def check_avg_pool(impl, x, kw, rng):
    out, cache = impl.avg_pool2d_forward(x, **kw)
    dout = rng.standard_normal(out.shape)
    ref_out, ref_dx = torch_pool(F.avg_pool2d, x, dout, **kw)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    dx = impl.avg_pool2d_backward(dout, cache)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)
    return out, dx


@settings(max_examples=40, deadline=None)
@given(case=pool_cases(max_n=2, max_c=3, max_hw=7))
def test_loops_pooling_matches_torch_and_im2col(case):
    x, kw, rng = case
    state = rng.bit_generator.state
    for check in (check_max_pool, check_avg_pool):
        rng.bit_generator.state = state  # same dout for both implementations
        out, dx = check(loops, x, kw, rng)
        rng.bit_generator.state = state
        out2, dx2 = check(im2col, x, kw, rng)
        np.testing.assert_allclose(out2, out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx2, dx, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(case=pool_cases(max_n=3, max_c=4, max_hw=14))
def test_im2col_pooling_matches_torch(case):
    x, kw, rng = case
    check_max_pool(im2col, x, kw, rng)
    check_avg_pool(im2col, x, kw, rng)


@pytest.mark.parametrize("impl", IMPLS)
def test_max_pool_ties_and_infinities_like_torch(impl):
    """Ties go to the first maximum; windows of only -inf point into x, not the padding."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, (2, 3, 6, 5)).astype(np.float64)  # many ties
    x[0, 0] = -np.inf
    x[1, 1, :3, :3] = -np.inf
    kw = dict(kernel_size=3, stride=(1, 2), padding=1)
    out, indices, cache = impl.max_pool2d_forward(x, return_indices=True, **kw)
    ref_out, ref_idx = F.max_pool2d(torch.from_numpy(x), return_indices=True, **kw)
    np.testing.assert_array_equal(out, ref_out.numpy())
    np.testing.assert_array_equal(indices, ref_idx.numpy())
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(
        impl.max_pool2d_backward(dout, cache), torch_pool(F.max_pool2d, x, dout, **kw)[1]
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_float32_stays_float32(impl):
    x = np.random.default_rng(6).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for name in ("max", "avg"):
        out, cache = getattr(impl, f"{name}_pool2d_forward")(x, 2)
        dx = getattr(impl, f"{name}_pool2d_backward")(np.ones_like(out), cache)
        assert out.dtype == dx.dtype == np.float32
    out, indices, _ = impl.max_pool2d_forward(x, 2, return_indices=True)
    assert impl.max_unpool2d(out, indices, (8, 8)).dtype == np.float32


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
@pytest.mark.parametrize("name", ["max", "avg"])
def test_pool_gradient_numerically(impl, name):
    rng = np.random.default_rng(7)
    # A shuffled grid of well-separated values: no ties, so max pooling is differentiable.
    x = rng.permutation(np.arange(2 * 2 * 5 * 6, dtype=np.float64)).reshape(2, 2, 5, 6) * 0.1
    forward = getattr(impl, f"{name}_pool2d_forward")
    backward = getattr(impl, f"{name}_pool2d_backward")
    kw = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))
    out, cache = forward(x, **kw)
    dout = rng.standard_normal(out.shape)
    numeric = numerical_grad(lambda: np.sum(forward(x, **kw)[0] * dout), x)
    np.testing.assert_allclose(backward(dout, cache), numeric, rtol=1e-6, atol=1e-8)


def test_convenience_functions():
    x = np.random.default_rng(8).standard_normal((2, 3, 6, 6))
    xt = torch.from_numpy(x)
    np.testing.assert_array_equal(ops.max_pool2d(x, 2), F.max_pool2d(xt, 2).numpy())
    out, indices = ops.max_pool2d(x, 3, 2, 1, return_indices=True)
    ref_out, ref_idx = F.max_pool2d(xt, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(indices, ref_idx.numpy())
    np.testing.assert_allclose(ops.avg_pool2d(x, 3, 1, 1), F.avg_pool2d(xt, 3, 1, 1).numpy())
    # output_size may also be the full (N, C, H, W) shape, as in PyTorch.
    np.testing.assert_array_equal(
        ops.max_unpool2d(out, indices, x.shape), F.max_unpool2d(ref_out, ref_idx, 3, 2, 1, output_size=x.shape)
    )


# --------------------------------------------------------------------------- bad input

X = np.zeros((2, 3, 5, 5))

BAD_POOL = [
    ((np.zeros((3, 5, 5)), 2), {}, ValueError, r"x must have 4 dimensions \(N, C, H, W\)"),
    ((X.astype(np.int32), 2), {}, TypeError, "x must be a floating-point array"),
    ((X, 0), {}, ValueError, "kernel_size must be a positive integer, got 0"),
    ((X, 2), dict(stride=0), ValueError, "stride must be a positive integer, got 0"),
    ((X, 2), dict(padding=-1), ValueError, "padding must be a non-negative integer, got -1"),
    ((X, 3), dict(padding=2), ValueError, "padding must be at most half of kernel_size, got padding=2 and kernel_size=3"),
    ((X, (2, 3)), dict(padding=(1, 2)), ValueError, "padding must be at most half of kernel_size"),
    ((X, 6), {}, ValueError, "kernel_size 6x6 is larger than the padded input 5x5"),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["max", "avg"])
@pytest.mark.parametrize("args, kwargs, exc, match", BAD_POOL)
def test_pool_rejects_bad_input(impl, name, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        getattr(impl, f"{name}_pool2d_forward")(*args, **kwargs)


@pytest.mark.parametrize("impl", IMPLS)
def test_pool_backward_checks_dout(impl):
    for name in ("max", "avg"):
        _, cache = getattr(impl, f"{name}_pool2d_forward")(X, 2)
        with pytest.raises(ValueError, match="dout must have the shape of the forward output"):
            getattr(impl, f"{name}_pool2d_backward")(np.zeros((2, 3, 3, 3)), cache)


@pytest.mark.parametrize("impl", IMPLS)
def test_unpool_rejects_bad_input(impl):
    out, indices, _ = impl.max_pool2d_forward(X, 2, return_indices=True)
    with pytest.raises(TypeError, match="indices must be an integer NumPy array"):
        impl.max_unpool2d(out, indices.astype(np.float64), (5, 5))
    with pytest.raises(ValueError, match="indices must have shape"):
        impl.max_unpool2d(out, indices[:1], (5, 5))
    with pytest.raises(ValueError, match="indices must have the shape of x"):
        impl.max_unpool2d(out, indices[:, :, :1], (5, 5))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, H_out\*W_out\) = \[0, 9\)"):
        impl.max_unpool2d(out, indices, (3, 3))
    with pytest.raises(ValueError, match="output_size must be a positive integer"):
        impl.max_unpool2d(out, indices, 0)
    with pytest.raises(ValueError, match="dout must have 4 dimensions"):
        impl.max_unpool2d_backward(np.zeros((5, 5)), indices)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, H_out\*W_out\) = \[0, 4\)"):
        impl.max_unpool2d_backward(np.zeros((2, 3, 2, 2)), indices)

"""cnnlib.ops under bad input and edge cases: caches, flags, NaN, output_padding.

Each backward pass checks that it was handed the cache of its own forward pass (of the
same implementation) before it unpacks anything; flags accept bools (and NumPy bools)
and nothing else, as strict as PyTorch's ceil_mode; a max-pool window holding NaN behaves as
PyTorch's (NaN out, index and gradient on the window's LAST NaN).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib import ops
from cnnlib.ops import im2col, loops

IMPLS = [pytest.param(loops, id="loops"), pytest.param(im2col, id="im2col")]
X = np.arange(2 * 2 * 6 * 6, dtype=np.float64).reshape(2, 2, 6, 6)


def _caches(impl):
    """One forward pass of every layer of ``impl``: {layer: (dout, cache)}."""
    runs = {
        "conv2d": impl.conv2d_forward(X, np.ones((3, 2, 3, 3)), np.ones(3)),
        "max_pool2d": impl.max_pool2d_forward(X, 2),
        "avg_pool2d": impl.avg_pool2d_forward(X, 2),
        "conv_transpose2d": impl.conv_transpose2d_forward(X, np.ones((2, 3, 3, 3)), None, stride=2),
    }
    return {k: (np.ones_like(out), cache) for k, (out, cache) in runs.items()}


@pytest.mark.parametrize("impl", IMPLS)
def test_every_backward_accepts_its_own_cache_and_nothing_else(impl):
    caches = _caches(impl)
    other = loops if impl is im2col else im2col
    for layer, (dout, cache) in caches.items():
        backward = getattr(impl, f"{layer}_backward")
        backward(dout, cache)  # its own: fine
        for bad in (None, (1, 2, 3), list(cache)):
            with pytest.raises(TypeError, match=rf"cache must be the cache returned by {impl.__name__.split('.')[-1]}\.{layer}_forward"):
                backward(dout, bad)
        for wrong, (_, wrong_cache) in itertools.chain(caches.items(), _caches(other).items()):
            if wrong_cache is cache:
                continue
            with pytest.raises(ValueError, match=rf"cache was returned by \w+\.{wrong}_forward, but {layer}_backward"):
                backward(dout, wrong_cache)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_return_indices_accepts_bools(impl, value):
    res = impl.max_pool2d_forward(X, 2, return_indices=value)
    assert len(res) == (3 if value else 2)
    torch_res = F.max_pool2d(torch.from_numpy(X), 2, return_indices=bool(value))
    assert isinstance(torch_res, tuple) == bool(value)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("value", ["yes", "no", None, 0, 1, 2, 1.0, [True]])
def test_return_indices_rejects_anything_else(impl, value):
    with pytest.raises(TypeError, match="return_indices must be True or False"):
        impl.max_pool2d_forward(X, 2, return_indices=value)
    with pytest.raises(TypeError, match="return_indices must be True or False"):
        ops.max_pool2d(X, 2, return_indices=value)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 3), p=st.integers(0, 1), s=st.integers(1, 3),
       hw=st.integers(3, 7), frac=st.sampled_from([0.2, 0.5, 0.9]))
def test_max_pool_with_nans_matches_torch(seed, k, p, s, hw, frac):
    p = min(p, k // 2)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, hw, hw))
    x[rng.random(x.shape) < frac] = np.nan  # windows with one, two or only NaNs
    ref_out, ref_idx = F.max_pool2d(torch.from_numpy(x), k, s, p, return_indices=True)
    xt = torch.from_numpy(x).requires_grad_()
    dout = rng.standard_normal(ref_out.shape)
    F.max_pool2d(xt, k, s, p).backward(torch.from_numpy(dout))
    for impl in (loops, im2col):
        out, idx, cache = impl.max_pool2d_forward(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(out, ref_out.numpy())  # NaN where torch has NaN
        np.testing.assert_array_equal(idx, ref_idx.numpy())
        np.testing.assert_allclose(impl.max_pool2d_backward(dout, cache), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       op=st.integers(0, 2), hw=st.integers(1, 4))
def test_output_padding_rows_that_hold_only_the_bias(seed, k, s, p, op, hw):
    """The docstring's claim: the last max(output_padding - padding, 0) rows (and columns)
    of the output receive no input, only the bias; checked on F.conv_transpose2d."""
    if op >= s or (hw - 1) * s - 2 * p + (k - 1) + op + 1 < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 2, (1, 1, hw, hw))
    w = rng.uniform(1, 2, (1, 1, k, k))  # positive: a reached pixel is never exactly 0
    ref = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, op).numpy()[0, 0]
    n_bias_only = max(op - p, 0)
    reached = ref != 0
    assert not reached[ref.shape[0] - n_bias_only:].any() and not reached[:, ref.shape[1] - n_bias_only:].any()
    if n_bias_only < ref.shape[0] and k >= s:  # no gaps between the windows
        assert reached[ref.shape[0] - n_bias_only - 1].any()  # the row before is reached
    for impl in (loops, im2col):
        out, _ = impl.conv_transpose2d_forward(x, w, np.array([5.0]), s, p, op)
        np.testing.assert_allclose(out[0, 0], ref + 5.0, rtol=1e-12, atol=1e-12)

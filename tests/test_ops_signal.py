"""cnnlib.ops.signal: cross-correlation (what CNNs compute) vs true convolution."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib import ops
from cnnlib.ops.signal import convolve2d, correlate2d


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The reference calls are tiny: one thread avoids thread spin-up costs on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@st.composite
def image_and_kernel(draw, max_hw: int = 8):
    """An image and a kernel that fits inside it, float64."""
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    k_h, k_w = draw(st.integers(1, h)), draw(st.integers(1, w))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.standard_normal((h, w)), rng.standard_normal((k_h, k_w))


def torch_correlate(image, kernel, padding=0):
    """F.conv2d on a single image and kernel: a cross-correlation."""
    out = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None], padding=padding)
    return out[0, 0].numpy()


@settings(max_examples=60, deadline=None)
@given(case=image_and_kernel())
def test_correlate2d_is_what_conv2d_computes(case):
    image, kernel = case
    out = correlate2d(image, kernel)
    assert out.shape == (image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1)
    np.testing.assert_allclose(out, torch_correlate(image, kernel), rtol=1e-12, atol=1e-12)
    full = correlate2d(image, kernel, mode="full")
    padding = (kernel.shape[0] - 1, kernel.shape[1] - 1)
    np.testing.assert_allclose(full, torch_correlate(image, kernel, padding), rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(case=image_and_kernel(), mode=st.sampled_from(["valid", "full"]))
def test_convolve2d_is_correlate2d_with_flipped_kernel(case, mode):
    image, kernel = case
    np.testing.assert_allclose(
        convolve2d(image, kernel, mode), correlate2d(image, kernel[::-1, ::-1], mode), rtol=1e-12, atol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(f=image_and_kernel(), g=image_and_kernel())
def test_full_convolution_commutes_and_correlation_reverses(f, g):
    f, g = f[0], g[1]  # any two arrays: in "full" mode neither has to fit into the other
    np.testing.assert_allclose(convolve2d(f, g, "full"), convolve2d(g, f, "full"), rtol=1e-10, atol=1e-10)
    # Cross-correlation does not commute: swapping the arguments flips the result.
    np.testing.assert_allclose(
        correlate2d(f, g, "full"), correlate2d(g, f, "full")[::-1, ::-1], rtol=1e-10, atol=1e-10
    )


def test_convolve2d_matches_the_textbook_definitions():
    rng = np.random.default_rng(13)
    f, g = rng.standard_normal((5, 7)), rng.standard_normal((3, 4))
    full = convolve2d(f, g, "full")
    # 1. Definition: (f * g)[i, j] = sum over (m, n) of f[m, n] g[i - m, j - n].
    ref = np.zeros((5 + 3 - 1, 7 + 4 - 1))
    for m, n in np.ndindex(f.shape):
        ref[m : m + 3, n : n + 4] += f[m, n] * g
    np.testing.assert_allclose(full, ref, rtol=1e-12, atol=1e-12)
    # 2. Convolution theorem: a product of (zero-padded) Fourier transforms.
    shape = full.shape
    via_fft = np.fft.ifft2(np.fft.fft2(f, shape) * np.fft.fft2(g, shape)).real
    np.testing.assert_allclose(full, via_fft, rtol=1e-10, atol=1e-10)
    # 3. One row: numpy's 1-D convolution.
    np.testing.assert_allclose(convolve2d(f[:1], g[:1], "full")[0], np.convolve(f[0], g[0]), rtol=1e-12)
    # "valid" is the part of "full" where the kernel lies inside the image.
    np.testing.assert_allclose(convolve2d(f, g), full[2:5, 3:7], rtol=1e-12, atol=1e-12)


def test_symmetric_kernel_makes_no_difference_and_an_asymmetric_one_does():
    image = np.arange(16, dtype=np.float64).reshape(4, 4)
    blur = np.full((3, 3), 1 / 9)
    np.testing.assert_allclose(convolve2d(image, blur), correlate2d(image, blur))
    sobel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(correlate2d(image, sobel), 8.0)  # brightness grows to the right
    np.testing.assert_allclose(convolve2d(image, sobel), -8.0)  # the flip flips the sign


def test_dtype_and_package_exports():
    image, kernel = np.ones((4, 4), np.float32), np.ones((2, 2), np.float32)
    assert correlate2d(image, kernel).dtype == np.float32
    assert ops.convolve2d is convolve2d and ops.correlate2d is correlate2d


@pytest.mark.parametrize("func", [correlate2d, convolve2d])
@pytest.mark.parametrize(
    "image, kernel, kwargs, exc, match",
    [
        (np.ones((1, 4, 4)), np.ones((2, 2)), {}, ValueError, r"image must have 2 dimensions \(H, W\)"),
        (np.ones((4, 4)), np.ones(2), {}, ValueError, r"kernel must have 2 dimensions \(kH, kW\)"),
        (np.ones((4, 4), int), np.ones((2, 2)), {}, TypeError, "image must be a floating-point array"),
        (np.ones((4, 4)), np.ones((5, 2)), {}, ValueError, r"kernel of shape \(5, 2\) is larger than the image"),
        (np.ones((4, 4)), np.ones((0, 2)), {}, ValueError, "kernel must not be empty"),
        (np.ones((4, 4)), np.ones((2, 2)), dict(mode="same"), ValueError, "mode must be one of"),
    ],
)
def test_bad_input(func, image, kernel, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        func(image, kernel, **kwargs)

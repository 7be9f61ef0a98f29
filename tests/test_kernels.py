"""cnnlib.kernels: the hand-made kernels' defining properties, the filter bank layout,
and filter_image against scipy-style reference arithmetic and F.conv2d."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlib import kernels
from cnnlib.ops import convolve2d, correlate2d


def test_values_and_sums():
    assert np.allclose(kernels.box_blur(), np.full((3, 3), 1 / 9)) and kernels.box_blur(5).shape == (5, 5)
    assert kernels.box_blur(5).sum() == pytest.approx(1.0)
    assert kernels.sharpen().tolist() == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    assert kernels.sobel("x").tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert np.array_equal(kernels.sobel("y"), kernels.sobel("x").T)
    assert np.array_equal(kernels.prewitt("y"), kernels.prewitt("x").T)
    assert kernels.prewitt().tolist() == [[-1, 0, 1]] * 3
    assert kernels.laplacian().sum() == 0 and kernels.laplacian(diagonal=True).tolist()[1] == [1, -8, 1]
    assert kernels.identity(5)[2, 2] == 1 and kernels.identity(5).sum() == 1
    for name, k in kernels.kernel_bank().items():
        assert k.dtype == np.float32 and k.shape == (3, 3), name
        expected = 0.0 if name in ("Sobel x", "Sobel y", "Prewitt x", "Laplacian") else 1.0
        assert k.sum() == pytest.approx(expected), name


def test_sobel_sign_and_textbook_flip():
    ramp = np.tile(np.arange(6, dtype=np.float64), (6, 1))       # brighter to the right
    assert np.all(correlate2d(ramp, kernels.sobel("x").astype(np.float64)) == 8)
    assert np.all(correlate2d(ramp, kernels.sobel("y").astype(np.float64)) == 0)
    textbook_gx = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
    assert np.array_equal(convolve2d(ramp, textbook_gx), correlate2d(ramp, kernels.sobel("x").astype(np.float64)))


@pytest.mark.parametrize("bad", [dict(axis="z"), dict(axis="X")])
def test_bad_axis(bad):
    with pytest.raises(ValueError, match="axis"):
        kernels.sobel(**bad)
    with pytest.raises(ValueError, match="axis"):
        kernels.prewitt(**bad)


def test_bad_sizes():
    with pytest.raises(ValueError, match="odd"):
        kernels.identity(4)
    with pytest.raises(ValueError, match="size"):
        kernels.box_blur(0)
    with pytest.raises(TypeError, match="size"):
        kernels.box_blur(2.5)


def test_filter_bank_shapes_and_channel_mean():
    bank = kernels.filter_bank(kernels.kernel_bank(), in_channels=3)
    assert bank.shape == (7, 3, 3, 3) and bank.dtype == torch.float32
    x = torch.rand(2, 3, 9, 11)
    gray = x.mean(dim=1, keepdim=True)
    one = kernels.filter_bank([kernels.sobel(), kernels.box_blur()])
    assert one.shape == (2, 1, 3, 3)
    assert torch.allclose(F.conv2d(x, kernels.filter_bank([kernels.sobel(), kernels.box_blur()], 3)),
                          F.conv2d(gray, one), atol=1e-6)


def test_filter_bank_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        kernels.filter_bank([])
    with pytest.raises(ValueError, match="same shape"):
        kernels.filter_bank([kernels.box_blur(3), kernels.box_blur(5)])
    with pytest.raises(ValueError, match="in_channels"):
        kernels.filter_bank([kernels.box_blur()], in_channels=0)


@pytest.mark.parametrize("mode, np_mode", [("zeros", "constant"), ("replicate", "edge"), ("reflect", "reflect")])
def test_filter_image_matches_padded_correlation(mode, np_mode):
    rng = np.random.default_rng(0)
    img = rng.random((7, 9, 3)).astype(np.float32)
    k = rng.standard_normal((3, 5)).astype(np.float32)
    out = kernels.filter_image(img, k, padding_mode=mode)
    assert out.shape == img.shape
    for c in range(3):
        padded = np.pad(img[..., c].astype(np.float64), ((1, 1), (2, 2)), mode=np_mode)
        assert np.allclose(out[..., c], correlate2d(padded, k.astype(np.float64)), atol=1e-5)
    gray = kernels.filter_image(img[..., 0], k, padding_mode=mode)
    assert gray.shape == (7, 9) and np.allclose(gray, out[..., 0])


def test_filter_image_blur_keeps_constant_and_edges_kill_it():
    flat = np.full((6, 6, 3), 0.4, dtype=np.float32)
    assert np.allclose(kernels.filter_image(flat, kernels.box_blur()), 0.4)
    assert np.allclose(kernels.filter_image(flat, kernels.sobel("x")), 0.0)
    assert np.allclose(kernels.filter_image(flat, kernels.sharpen()), 0.4, atol=1e-6)


def test_filter_image_rejects_bad_input():
    with pytest.raises(ValueError, match="image"):
        kernels.filter_image(np.zeros((2, 3, 4, 5)), kernels.box_blur())
    with pytest.raises(ValueError, match="odd"):
        kernels.filter_image(np.zeros((5, 5)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="padding_mode"):
        kernels.filter_image(np.zeros((5, 5)), kernels.box_blur(), padding_mode="circular")

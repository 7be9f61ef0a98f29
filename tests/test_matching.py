"""cnnlib.matching: raw and normalized cross-correlation against a brute-force loop."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlib.matching import best_match, match_template
from cnnlib.ops import correlate2d


def _ncc_loop(image, t):
    h, w = t.shape
    out = np.zeros((image.shape[0] - h + 1, image.shape[1] - w + 1))
    t0 = t - t.mean()
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            p = image[i:i + h, j:j + w]
            p0 = p - p.mean()
            d = np.sqrt((p0**2).sum() * (t0**2).sum())
            out[i, j] = 0.0 if d < 1e-12 else (p0 * t0).sum() / d
    return out


def test_ncc_matches_loop_and_finds_template():
    rng = np.random.default_rng(0)
    img = rng.random((20, 17))
    t = img[5:10, 8:14].copy()
    ncc = match_template(img, t)
    assert ncc.shape == (16, 12)
    assert np.allclose(ncc, _ncc_loop(img, t), atol=1e-9)
    assert best_match(ncc) == (5, 8) and ncc[5, 8] == pytest.approx(1.0)
    assert ncc.min() >= -1 and ncc.max() <= 1


def test_raw_is_correlation_and_fooled_by_bright_regions():
    rng = np.random.default_rng(1)
    img = rng.random((20, 20)) * 0.5
    t = img[2:6, 3:7].copy()
    img[12:18, 12:18] = 1.0          # a white square: sum(t) > sum(t * t) there
    raw = match_template(img, t, normalized=False)
    assert np.allclose(raw, correlate2d(img, t))
    assert best_match(raw) != (2, 3)
    assert best_match(match_template(img, t)) == (2, 3)


def test_brightness_and_contrast_invariance_and_flat_windows():
    rng = np.random.default_rng(2)
    t = rng.random((3, 3))
    img = np.zeros((8, 8))
    img[4:7, 2:5] = 3 * t + 0.7      # same pattern, other contrast and brightness
    ncc = match_template(img, t.astype(np.float32))
    assert ncc[4, 2] == pytest.approx(1.0)
    assert ncc[0, 0] == 0.0          # a flat window has no pattern: response 0, not NaN
    assert np.isfinite(ncc).all()


def test_bad_input():
    with pytest.raises(ValueError, match="response"):
        best_match(np.zeros(3))
    with pytest.raises(TypeError, match="template"):
        match_template(np.zeros((4, 4)), [[1.0]])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-12, 1e-6, 1e-3, 1.0, 1e3, 1e6]),
       offset=st.sampled_from([0.0, -1.0, 1e3, 1e6, -5e7]), h=st.integers(2, 6), w=st.integers(2, 6))
def test_ncc_is_one_for_an_affine_copy_at_any_scale_and_offset(seed, scale, offset, h, w):
    """The documented property, P = a*T + b gives 1, also far from 0 and at tiny scales,
    and the whole map agrees with the brute-force loop (which centres every window)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((14, 15))
    i, j = rng.integers(0, 14 - h + 1), rng.integers(0, 15 - w + 1)
    img = base * scale + offset
    t = base[i:i + h, j:j + w] * scale + offset
    # Digits of the pattern that survive in the inputs themselves: float64 rounding of
    # offset + pattern*scale leaves a relative error of about eps * |offset| / scale.
    lost = np.finfo(np.float64).eps * abs(offset) / scale
    assume(lost < 1e-5)
    tol = 1e-9 + 1e3 * lost
    ncc = match_template(img, t)
    assert ncc[i, j] == pytest.approx(1.0, abs=tol)
    assert np.allclose(ncc, _ncc_loop(base, base[i:i + h, j:j + w]), atol=tol)

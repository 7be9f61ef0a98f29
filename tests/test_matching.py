"""cnnlib.matching: raw and normalized cross-correlation against a brute-force loop."""
from __future__ import annotations

import numpy as np
import pytest

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

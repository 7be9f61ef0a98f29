"""Template matching: where in an image does a small patch (the template) appear?

The raw response is the cross-correlation a convolution layer computes: large where the
image "looks like" the template... but also wherever the image is simply bright, since a
bright window multiplies every template weight by a large number. The **normalized**
cross-correlation (NCC) removes that: it subtracts the mean of the template and of each
window and divides by their norms, giving the correlation coefficient in [-1, 1]::

    ncc[i, j] = sum((P - mean P) * (T - mean T)) / (||P - mean P|| * ||T - mean T||)

where ``P`` is the window of the image at ``(i, j)``. It is 1 exactly where the window is
the template up to brightness and contrast (``P = a*T + b`` with ``a > 0``), and is set to
0 on flat windows (zero norm).
"""
from __future__ import annotations

import numpy as np

from ._validate import array
from .ops.signal import correlate2d

__all__ = ["match_template", "best_match"]


def match_template(image: np.ndarray, template: np.ndarray, normalized: bool = True) -> np.ndarray:
    """Response of ``template`` at every position of ``image`` ("valid" positions only).

    ``image: (H, W), template: (h, w) -> (H - h + 1, W - w + 1)`` float64.

    ``normalized=False`` gives the raw cross-correlation ``correlate2d(image, template)``;
    ``normalized=True`` the NCC in [-1, 1] (see the module docstring).
    """
    array("image", image, 2, "(H, W)")
    array("template", template, 2, "(h, w)")
    img = image.astype(np.float64)
    t = template.astype(np.float64)
    if not normalized:
        return correlate2d(img, t)
    t0 = t - t.mean()
    t_norm = np.sqrt(np.sum(t0**2))
    # Window variances as sum(P**2) - sum(P)**2 / n lose every digit to cancellation when
    # the image sits on a large offset (image*1e-3 + 1e6), so work on the image minus its
    # mean: then only each window's distance from that mean cancels, not the offset.
    img = img - img.mean()
    num = correlate2d(img, t0)  # = sum((P - mean P) * t0), because t0 sums to 0
    ones = np.ones_like(t)
    s1 = correlate2d(img, ones)                      # window sums
    s2 = correlate2d(img**2, ones)                   # window sums of squares
    p_var = np.maximum(s2 - s1**2 / t.size, 0.0)     # sum((P - mean P)**2), rounding clipped
    denom = np.sqrt(p_var) * t_norm
    # Flat: a window whose variance is rounding noise of its sums (or a flat template).
    flat = (p_var <= 1e-10 * s2) | (t_norm <= 1e-10 * np.sqrt(np.sum(t**2)))
    out = np.where(flat, 0.0, num / np.where(flat, 1.0, denom))
    return np.clip(out, -1.0, 1.0)


def best_match(response: np.ndarray) -> tuple[int, int]:
    """``(row, col)`` of the largest value of a 2-D response (the first one on ties):
    the top-left corner of the best-matching window."""
    r = np.asarray(response)
    if r.ndim != 2 or r.size == 0:
        raise ValueError(f"response must be a non-empty 2-D array, got shape {r.shape}")
    i, j = np.unravel_index(int(np.argmax(r)), r.shape)
    return int(i), int(j)

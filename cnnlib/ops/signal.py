"""Signal-processing convolution vs cross-correlation, on single 2-D arrays.

What a CNN layer computes is a **cross-correlation**: slide the kernel over the image
and take dot products, kernel as is::

    correlate2d(f, g)[i, j] = sum over (u, v) of f[i + u, j + v] * g[u, v]

The **convolution** of signal processing flips the kernel first (rotates it by 180
degrees)::

    convolve2d(f, g)[i, j] = sum over (u, v) of f[i + u, j + v] * g[kH-1-u, kW-1-v]
                           = correlate2d(f, g[::-1, ::-1])[i, j]

Since a CNN *learns* its kernels, the flip makes no difference to what it can learn,
and deep-learning libraries skip it. Only true convolution has the algebra of
signal processing, e.g. it is commutative: ``convolve2d(f, g, "full") ==
convolve2d(g, f, "full")``, which cross-correlation is not.

Modes (as in ``scipy.signal``): ``"valid"`` (default) keeps only positions where the
kernel lies fully inside the image, ``(H - kH + 1, W - kW + 1)``; ``"full"`` pads the
image with ``kH-1``/``kW-1`` zeros on each side, ``(H + kH - 1, W + kW - 1)``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._validate import array

__all__ = ["correlate2d", "convolve2d"]

_MODES = ("valid", "full")


def correlate2d(image: np.ndarray, kernel: np.ndarray, mode: str = "valid") -> np.ndarray:
    """Cross-correlation of two 2-D arrays (what ``nn.Conv2d`` computes), no kernel flip.

    ``image: (H, W), kernel: (kH, kW) -> out: (H - kH + 1, W - kW + 1)`` in ``"valid"``
    mode, ``(H + kH - 1, W + kW - 1)`` in ``"full"`` mode.
    """
    array("image", image, 2, "(H, W)")
    array("kernel", kernel, 2, "(kH, kW)")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    k_h, k_w = kernel.shape
    if k_h < 1 or k_w < 1:
        raise ValueError(f"kernel must not be empty, got shape {kernel.shape}")
    if mode == "full":
        image = np.pad(image, ((k_h - 1, k_h - 1), (k_w - 1, k_w - 1)))
    if k_h > image.shape[0] or k_w > image.shape[1]:
        raise ValueError(
            f"kernel of shape {kernel.shape} is larger than the image {image.shape} "
            "(mode='valid' needs kH <= H and kW <= W)"
        )
    windows = sliding_window_view(image, (k_h, k_w))  # (H_out, W_out, kH, kW), no copy
    return np.tensordot(windows, kernel, axes=([2, 3], [0, 1]))


def convolve2d(image: np.ndarray, kernel: np.ndarray, mode: str = "valid") -> np.ndarray:
    """True (signal-processing) convolution of two 2-D arrays: the kernel is flipped.

    ``image: (H, W), kernel: (kH, kW) -> out: (H - kH + 1, W - kW + 1)`` in ``"valid"``
    mode, ``(H + kH - 1, W + kW - 1)`` in ``"full"`` mode. Equals
    ``correlate2d(image, kernel[::-1, ::-1], mode)``.
    """
    array("image", image, 2, "(H, W)")
    array("kernel", kernel, 2, "(kH, kW)")
    return correlate2d(image, kernel[::-1, ::-1], mode)

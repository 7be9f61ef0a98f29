"""Hand-made image kernels (filters) and how to apply them to a photo.

Before CNNs learned their kernels, image processing designed them by hand. Each kernel
here is a small float32 NumPy array meant for **cross-correlation**, i.e. for
``F.conv2d`` / ``nn.Conv2d`` / :func:`cnnlib.ops.correlate2d` (the kernel is *not*
flipped)::

    box_blur()      1/9 * ones(3, 3)                 low-pass: averages, blurs
    sharpen()       [[0,-1,0],[-1,5,-1],[0,-1,0]]    identity - laplacian(): boosts detail
    sobel("x")      [[-1,0,1],[-2,0,2],[-1,0,1]]     d/dx: vertical edges (left-right change)
    sobel("y")      sobel("x").T                     d/dy: horizontal edges (top-bottom change)
    prewitt("x")    [[-1,0,1]] * 3 rows              d/dx without the centre weighting
    laplacian()     [[0,1,0],[1,-4,1],[0,1,0]]       second derivative: edges of both signs

Textbooks often print derivative kernels for true (flipped) convolution, e.g. Sobel
``Gx = [[1,0,-1],[2,0,-2],[1,0,-1]]``; as a cross-correlation kernel that is
``-sobel("x")``. Symmetric kernels (blur, sharpen, Laplacian) are the same either way.

A blur's weights sum to 1 (it keeps the mean brightness); derivative kernels sum to 0
(a flat region gives 0); the sharpen kernel sums to 1.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import _validate

__all__ = [
    "identity", "box_blur", "sharpen", "sobel", "prewitt", "laplacian",
    "kernel_bank", "filter_bank", "filter_image",
]

_AXES = ("x", "y")


def _check_axis(axis: str) -> str:
    if axis not in _AXES:
        raise ValueError(f"axis must be 'x' (vertical edges, change along a row) or 'y' (horizontal "
                         f"edges, change down a column), got {axis!r}")
    return axis


def identity(size: int = 3) -> np.ndarray:
    """``(size, size)``: 1 in the centre, 0 elsewhere; leaves the image unchanged. ``size`` odd."""
    size = _validate.positive_int("size", size)
    if size % 2 == 0:
        raise ValueError(f"size must be odd so that the kernel has a centre, got {size}")
    k = np.zeros((size, size), dtype=np.float32)
    k[size // 2, size // 2] = 1.0
    return k


def box_blur(size: int = 3) -> np.ndarray:
    """``(size, size)``, every weight ``1/size**2``: the mean of each window (a low-pass filter)."""
    size = _validate.positive_int("size", size)
    return np.full((size, size), 1.0 / size**2, dtype=np.float32)


def laplacian(diagonal: bool = False) -> np.ndarray:
    """``(3, 3)`` discrete Laplacian (sum of second derivatives), weights sum to 0.

    4-neighbour ``[[0,1,0],[1,-4,1],[0,1,0]]``, or with ``diagonal=True`` the
    8-neighbour ``[[1,1,1],[1,-8,1],[1,1,1]]``.
    """
    if diagonal:
        k = np.ones((3, 3), dtype=np.float32)
        k[1, 1] = -8.0
        return k
    return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)


def sharpen() -> np.ndarray:
    """``(3, 3)`` ``[[0,-1,0],[-1,5,-1],[0,-1,0]] = identity() - laplacian()``: adds the detail back twice."""
    return identity(3) - laplacian()


def sobel(axis: str = "x") -> np.ndarray:
    """``(3, 3)`` Sobel derivative for cross-correlation (``F.conv2d``).

    ``"x"``: ``[[-1,0,1],[-2,0,2],[-1,0,1]]``, positive where the image gets brighter to the
    right, so it finds vertical edges; ``"y"``: its transpose, positive where the image gets
    brighter downwards (horizontal edges). The 1-2-1 column smooths across the edge.
    """
    k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    return k if _check_axis(axis) == "x" else np.ascontiguousarray(k.T)


def prewitt(axis: str = "x") -> np.ndarray:
    """``(3, 3)`` Prewitt derivative: as :func:`sobel` with equal weights ``[[-1,0,1]] * 3``."""
    k = np.array([[-1, 0, 1]] * 3, dtype=np.float32)
    return k if _check_axis(axis) == "x" else np.ascontiguousarray(k.T)


def kernel_bank() -> dict[str, np.ndarray]:
    """The course's hand-made 3x3 kernels by name, identity first."""
    return {
        "identity": identity(),
        "box blur 1/9": box_blur(),
        "sharpen": sharpen(),
        "Sobel x": sobel("x"),
        "Sobel y": sobel("y"),
        "Prewitt x": prewitt("x"),
        "Laplacian": laplacian(),
    }


def filter_bank(kernels: Sequence[np.ndarray] | Mapping[str, np.ndarray], in_channels: int = 1) -> torch.Tensor:
    """Stack 2-D kernels into an ``nn.Conv2d`` weight: K kernels ``(kH, kW)`` -> ``(K, in_channels, kH, kW)``.

    Filter k holds ``kernel_k / in_channels`` in each of its ``in_channels`` slices, so on a
    colour image it computes ``kernel_k`` applied to the channel mean (the grey image):
    one filter, however many input channels, gives one feature map.
    """
    in_channels = _validate.positive_int("in_channels", in_channels)
    ks = list(kernels.values()) if isinstance(kernels, Mapping) else _validate.iterable(
        "kernels", kernels, "a sequence or dict of 2-D kernels")
    if not ks:
        raise ValueError("kernels must hold at least one kernel")
    shape = np.shape(ks[0])
    for k in ks:
        if np.ndim(k) != 2 or np.shape(k) != shape:
            raise ValueError(f"every kernel must be 2-D with the same shape {shape}, got {np.shape(k)}")
    w = torch.as_tensor(np.stack(ks).astype(np.float32))  # (K, kH, kW)
    return (w[:, None] / in_channels).expand(-1, in_channels, -1, -1).contiguous()


def filter_image(image: np.ndarray, kernel: np.ndarray, padding_mode: str = "replicate") -> np.ndarray:
    """Cross-correlate every channel of an image with one odd-sized 2-D kernel, keeping its size.

    ``image: (H, W)`` or ``(H, W, C)``, ``kernel: (kH, kW)`` -> same shape as ``image``.

    Each channel is filtered on its own (``F.conv2d`` with ``groups=C``), so a colour photo
    stays a colour photo. The border is extended by ``padding_mode`` (``"replicate"``,
    ``"reflect"`` or ``"zeros"``) by ``kH//2`` and ``kW//2`` pixels so that the output keeps
    the input size. Values are not clipped (edge maps are negative in places).
    """
    for name, a in (("image", image), ("kernel", kernel)):
        if not isinstance(a, (np.ndarray, list, tuple)) and not hasattr(a, "__array__"):
            raise TypeError(f"{name} must be an array, got {type(a).__name__}")
    img = np.asarray(image, dtype=np.float32)
    k = np.asarray(kernel, dtype=np.float32)
    if img.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {img.shape}")
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be 2-D with odd height and width, got shape {k.shape}")
    if padding_mode not in ("replicate", "reflect", "zeros"):
        raise ValueError(f"padding_mode must be 'replicate', 'reflect' or 'zeros', got {padding_mode!r}")
    x = torch.from_numpy(img if img.ndim == 3 else img[..., None]).permute(2, 0, 1)[None]  # (1, C, H, W)
    c = x.shape[1]
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    if padding_mode == "zeros":
        x = F.pad(x, (pw, pw, ph, ph))
    else:
        x = F.pad(x, (pw, pw, ph, ph), mode=padding_mode)
    w = torch.from_numpy(k)[None, None].expand(c, 1, -1, -1)  # (C, 1, kH, kW): one kernel per channel
    out = F.conv2d(x, w, groups=c)[0].permute(1, 2, 0).numpy()  # (H, W, C)
    return out if img.ndim == 3 else out[..., 0]

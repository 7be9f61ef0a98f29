"""Small convolutional autoencoders for 28x28 images (MNIST), with three decoders.

The encoder is conv -> ReLU -> 2x2 max-pool, twice, so a ``(N, 1, 28, 28)`` image becomes a
``(N, c2, 7, 7)`` code (or, with ``code_dim``, a ``(N, code_dim)`` vector after a Linear
bottleneck). The decoder has to undo the two poolings, i.e. double the height and width
twice. It does so in one of three ways (``method``):

- ``"nearest"`` / ``"bilinear"``: a fixed upsampling (업샘플링) followed by a learned 3x3
  convolution;
- ``"transpose"``: a learned transposed convolution (전치 합성곱) with stride 2;
- ``"unpool"``: max unpooling (언풀링), which puts each value back where the encoder's
  max-pool found its maximum (the encoder hands its pooling indices over), followed by a
  learned 3x3 convolution.

With the default ``transpose_kernel=3`` all four decoders have exactly the same number of
parameters; ``transpose_kernel=4`` (the usual choice, free of checkerboard artefacts) has
16/9 as many weights.

The last layer has no output activation: trained with MSE for a couple of epochs, a
sigmoid output often collapses to an all-black image (its gradient vanishes once the
outputs saturate near 0, and most MNIST pixels are 0), while a linear output does not.

>>> model = build_autoencoder("unpool")
>>> model(torch.rand(2, 1, 28, 28)).shape
torch.Size([2, 1, 28, 28])
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate

METHODS = ("nearest", "bilinear", "transpose", "unpool")

Indices = tuple[torch.Tensor, torch.Tensor]


def _check_channels(channels: tuple[int, int]) -> tuple[int, int]:
    if not isinstance(channels, (tuple, list)) or len(channels) != 2:
        raise ValueError(f"channels must be a pair (c1, c2), got {channels!r}")
    return (_validate.positive_int("channels[0]", channels[0]), _validate.positive_int("channels[1]", channels[1]))


def _check_size(size: int) -> int:
    size = _validate.positive_int("size", size)
    if size % 4:
        raise ValueError(f"size must be divisible by 4 (two 2x2 poolings), got {size}")
    return size


def doubling_padding(kernel_size: int) -> tuple[int, int]:
    """``(padding, output_padding)`` that make a stride-2 ``ConvTranspose2d`` with this
    kernel exactly double the size: ``H_out = 2*H_in``.

    From ``H_out = (H_in-1)*2 - 2*padding + (kernel_size-1) + output_padding + 1`` we need
    ``kernel_size + output_padding - 2*padding = 2`` with ``0 <= output_padding < 2``.

    >>> doubling_padding(4), doubling_padding(3), doubling_padding(2)
    ((1, 0), (1, 1), (0, 0))
    """
    k = _validate.positive_int("kernel_size", kernel_size)
    padding = (k - 1) // 2
    return padding, 2 * padding + 2 - k


class ConvEncoder(nn.Module):
    """conv3x3 -> ReLU -> maxpool2, twice; optionally flatten -> Linear to ``code_dim``.

    ``x: (N, in_channels, size, size) -> code: (N, c2, size/4, size/4)`` or ``(N, code_dim)``,
    plus the two max-pool ``indices`` ``((N, c1, size/2, size/2), (N, c2, size/4, size/4))``
    (int64 positions of each maximum, as ``nn.MaxPool2d(return_indices=True)`` gives them).
    """

    def __init__(self, channels: tuple[int, int] = (16, 8), code_dim: int | None = None,
                 in_channels: int = 1, size: int = 28) -> None:
        super().__init__()
        c1, c2 = _check_channels(channels)
        size = _check_size(size)
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.fc = nn.Linear(c2 * (size // 4) ** 2, _validate.positive_int("code_dim", code_dim)) if code_dim else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Indices]:
        h, i1 = self.pool(F.relu(self.conv1(x)))
        h, i2 = self.pool(F.relu(self.conv2(h)))
        code = self.fc(h.flatten(1)) if self.fc is not None else h
        return code, (i1, i2)


class _Decoder(nn.Module):
    """Shared part: turn a code into the ``(N, c2, size/4, size/4)`` grid to be enlarged."""

    def __init__(self, channels: tuple[int, int], code_dim: int | None, size: int) -> None:
        super().__init__()
        c1, c2 = _check_channels(channels)
        size = _check_size(size)
        self.grid_shape = (c2, size // 4, size // 4)
        n = c2 * (size // 4) ** 2
        self.fc = nn.Linear(_validate.positive_int("code_dim", code_dim), n) if code_dim else None

    def _grid(self, code: torch.Tensor) -> torch.Tensor:
        if self.fc is None:
            return code
        return F.relu(self.fc(code)).unflatten(1, self.grid_shape)


class UpsampleDecoder(_Decoder):
    """(upsample x2 -> conv3x3) twice, ReLU between, no output activation.

    ``code -> (N, out_channels, size, size)``; ``mode`` is ``"nearest"`` or ``"bilinear"``.
    The pooling indices are accepted and ignored.
    """

    def __init__(self, channels: tuple[int, int] = (16, 8), mode: str = "nearest", code_dim: int | None = None,
                 out_channels: int = 1, size: int = 28) -> None:
        super().__init__(channels, code_dim, size)
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        c1, c2 = channels
        self.up = nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
        self.conv1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, out_channels, 3, padding=1)

    def forward(self, code: torch.Tensor, indices: Indices | None = None) -> torch.Tensor:
        h = F.relu(self.conv1(self.up(self._grid(code))))
        return self.conv2(self.up(h))


class TransposeDecoder(_Decoder):
    """Two stride-2 transposed convolutions (``kernel_size`` x ``kernel_size``, padding and
    output_padding from :func:`doubling_padding`), ReLU between, no output activation.

    ``code -> (N, out_channels, size, size)``. The pooling indices are accepted and ignored.
    """

    def __init__(self, channels: tuple[int, int] = (16, 8), kernel_size: int = 3, code_dim: int | None = None,
                 out_channels: int = 1, size: int = 28) -> None:
        super().__init__(channels, code_dim, size)
        c1, c2 = channels
        p, op = doubling_padding(kernel_size)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, kernel_size, stride=2, padding=p, output_padding=op)
        self.deconv2 = nn.ConvTranspose2d(c1, out_channels, kernel_size, stride=2, padding=p, output_padding=op)

    def forward(self, code: torch.Tensor, indices: Indices | None = None) -> torch.Tensor:
        h = F.relu(self.deconv1(self._grid(code)))
        return self.deconv2(h)


class UnpoolDecoder(_Decoder):
    """(max-unpool x2 with the encoder's indices -> conv3x3) twice, ReLU between, no output activation.

    ``code, indices -> (N, out_channels, size, size)``: ``indices`` are the encoder's
    ``(i1, i2)``; ``i2`` places the grid's values into a ``size/2`` map, ``i1`` the next
    ones into a ``size`` map. Every other position is 0.
    """

    def __init__(self, channels: tuple[int, int] = (16, 8), code_dim: int | None = None,
                 out_channels: int = 1, size: int = 28) -> None:
        super().__init__(channels, code_dim, size)
        c1, c2 = channels
        self.unpool = nn.MaxUnpool2d(2)
        self.conv1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, out_channels, 3, padding=1)

    def forward(self, code: torch.Tensor, indices: Indices | None = None) -> torch.Tensor:
        if indices is None:
            raise ValueError("UnpoolDecoder needs the encoder's pooling indices (i1, i2): "
                             "max unpooling cannot know where the maxima were without them")
        i1, i2 = indices
        h = F.relu(self.conv1(self.unpool(self._grid(code), i2)))
        return self.conv2(self.unpool(h, i1))


class ConvAutoencoder(nn.Module):
    """An encoder and a decoder: ``x: (N, C, H, W) -> reconstruction (N, C, H, W)``.

    The decoder receives the encoder's pooling indices too (only the unpooling decoder
    uses them).
    """

    def __init__(self, encoder: ConvEncoder, decoder: _Decoder) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code, indices = self.encoder(x)
        return self.decoder(code, indices)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code alone: ``(N, c2, H/4, W/4)``, or ``(N, code_dim)`` with a bottleneck."""
        return self.encoder(x)[0]


def build_autoencoder(method: str, channels: tuple[int, int] = (16, 8), code_dim: int | None = None,
                      transpose_kernel: int = 3, in_channels: int = 1, size: int = 28) -> ConvAutoencoder:
    """A :class:`ConvAutoencoder` whose decoder restores the size with ``method``
    (one of :data:`METHODS`: ``"nearest"``, ``"bilinear"``, ``"transpose"``, ``"unpool"``).

    ``channels=(c1, c2)``: feature maps after the first and second convolution;
    ``code_dim``: an optional Linear bottleneck of that many numbers;
    ``transpose_kernel``: the kernel of the ``"transpose"`` decoder.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    channels = _check_channels(channels)
    encoder = ConvEncoder(channels, code_dim, in_channels, size)
    if method in ("nearest", "bilinear"):
        decoder: _Decoder = UpsampleDecoder(channels, method, code_dim, in_channels, size)
    elif method == "transpose":
        decoder = TransposeDecoder(channels, transpose_kernel, code_dim, in_channels, size)
    else:
        decoder = UnpoolDecoder(channels, code_dim, in_channels, size)
    return ConvAutoencoder(encoder, decoder)


def gaussian_noise(std: float, clip: bool = True) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """A :class:`cnnlib.data.TensorLoader` transform for a denoising autoencoder (잡음 제거):
    ``x: (B, ...) -> x + std * N(0, 1)`` drawn from the loader's generator (reproducible),
    clipped to [0, 1] when ``clip``.
    """
    if not isinstance(std, (int, float)) or isinstance(std, bool):
        raise TypeError(f"std must be a number >= 0, got {std!r} ({type(std).__name__})")
    clip = _validate.flag("clip", clip)
    std = float(std)
    if not std >= 0:
        raise ValueError(f"std must be >= 0, got {std}")

    def add_noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noisy = x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return noisy.clamp(0.0, 1.0) if clip else noisy

    return add_noise

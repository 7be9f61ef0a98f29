"""Deep stacks of 3x3 convolutions with and without shortcuts, and weight initialisation.

The experiments on depth use one family of networks whose only switches are the ones
being studied::

    x -> stem conv (stride) -> ReLU -> [block] * num_blocks -> global avg pool -> linear

each block being two 3x3 convolutions of ``width`` channels, optionally with
BatchNorm, and optionally with the identity shortcut ``out = relu(F(x) + x)``. With
``residual=False`` the network is a *plain* network of the same depth and the same
parameters. :func:`init_weights` re-initialises its convolution and linear weights with
one of the schemes compared in notebook 09 (too small, too large, Xavier, Kaiming).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import _validate

INIT_SCHEMES = ("default", "normal", "xavier", "kaiming")


class TwoConvBlock(nn.Module):
    """conv3x3 -> [BN] -> ReLU -> conv3x3 -> [BN] (+ x if ``residual``) -> ReLU.

    (N, width, H, W) -> (N, width, H, W); the shortcut is always the identity.
    """

    def __init__(self, width: int, residual: bool = True, batchnorm: bool = False) -> None:
        super().__init__()
        width = _validate.positive_int("width", width)
        self.residual = bool(residual)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=not batchnorm)
        self.bn1 = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=not batchnorm)
        self.bn2 = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + x if self.residual else out)


class DeepConvNet(nn.Module):
    """A stem, ``num_blocks`` :class:`TwoConvBlock` blocks, global average pooling, a linear head.

    x: (N, in_channels, H, W) -> logits (N, num_classes). Weighted layers:
    ``2 * num_blocks + 2`` (stem, the block convolutions, the head).

    Args:
        num_blocks: number of two-convolution blocks.
        width: channels of every block.
        residual: add the identity shortcut in every block (else a plain network).
        batchnorm: BatchNorm after each block convolution.
        stem_stride: stride (= kernel size when > 1) of the stem convolution, to work on
            smaller maps: 28x28 -> 7x7 with 4.
    """

    def __init__(self, num_blocks: int, width: int = 16, residual: bool = True, batchnorm: bool = False,
                 in_channels: int = 1, num_classes: int = 10, stem_stride: int = 1) -> None:
        super().__init__()
        num_blocks = _validate.positive_int("num_blocks", num_blocks)
        stem_stride = _validate.positive_int("stem_stride", stem_stride)
        k = 3 if stem_stride == 1 else stem_stride
        self.stem = nn.Conv2d(in_channels, width, k, stride=stem_stride, padding=1 if stem_stride == 1 else 0)
        self.relu = nn.ReLU()
        self.blocks = nn.Sequential(*[TwoConvBlock(width, residual, batchnorm) for _ in range(num_blocks)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    @property
    def depth(self) -> int:
        """Weighted layers: stem + two per block + the linear head."""
        return 2 * len(self.blocks) + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.relu(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def plain_stack(depth: int, width: int = 32, in_channels: int = 1) -> nn.Sequential:
    """``depth`` conv3x3 + ReLU layers with no normalization and no shortcut.

    (N, in_channels, H, W) -> (N, width, H, W). The network of the initialisation
    experiment: how the activations' scale changes from layer to layer depends only on
    how the weights were initialised.
    """
    depth = _validate.positive_int("depth", depth)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def init_weights(model: nn.Module, scheme: str, std: float | None = None) -> nn.Module:
    """Re-initialise every Conv2d and Linear weight of ``model`` in place; biases become 0.

    Schemes (fan_in = C_in * kH * kW, fan_out = C_out * kH * kW for a convolution):

    - ``"normal"``: N(0, std^2) with the ``std`` you give (e.g. 0.01 "too small").
    - ``"xavier"``: N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio, 2010; made for tanh).
    - ``"kaiming"``: N(0, 2 / fan_in) (He et al., 2015; made for ReLU, which zeroes half
      of its inputs and so halves the second moment).
    - ``"default"``: PyTorch's own ``reset_parameters`` (uniform, variance 1 / (3 fan_in)).

    Returns ``model``.
    """
    _validate.module("model", model)
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"scheme must be one of {INIT_SCHEMES}, got {scheme!r}")
    if scheme == "normal":
        if std is None or not std > 0:
            raise ValueError(f"scheme 'normal' needs a positive std, got {std!r}")
    elif std is not None:
        raise ValueError(f"std is only used with scheme 'normal', got std={std!r} with {scheme!r}")
    for m in model.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if scheme == "default":
            m.reset_parameters()
            continue
        with torch.no_grad():
            if scheme == "normal":
                m.weight.normal_(0.0, std)
            elif scheme == "xavier":
                nn.init.xavier_normal_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                m.bias.zero_()
    return model


def init_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation :func:`init_weights` draws with for ``"xavier"`` or ``"kaiming"``."""
    fan_in = _validate.positive_int("fan_in", fan_in)
    fan_out = _validate.positive_int("fan_out", fan_out)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "kaiming":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"scheme must be 'xavier' or 'kaiming', got {scheme!r}")

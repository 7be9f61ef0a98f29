"""VGG (Simonyan & Zisserman, ICLR 2015): blocks of 3x3 convolutions, nothing else.

A *VGG block* (:func:`vgg_block`) is ``num_convs`` times ``Conv2d(3x3, stride 1,
padding 1) -> ReLU``, then a 2x2 max pooling with stride 2: the convolutions keep the
height and width, the pooling halves them. A network is a list of ``(num_convs,
out_channels)`` blocks (:data:`VGG_CONFIGS`, the columns A, B, D, E of the paper's
Table 1) followed by a three-layer fully connected head with dropout 0.5.

- :func:`vgg16` / :func:`vgg19`: 138,357,544 / 143,667,240 parameters for 3x224x224
  images, with the same parameter shapes, in the same order, as torchvision's
  ``vgg16()`` / ``vgg19()`` (whose ``features`` is one flat ``Sequential``; here each
  block is its own ``Sequential``, so the names differ: ``features.0.0`` is
  torchvision's ``features.0``).
- :func:`small_vgg`: three blocks for 28x28 Fashion-MNIST, 276,298 parameters (3.9 M multiply-adds).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .. import _validate

#: (num_convs, out_channels) per block. The number in the name counts the weight layers:
#: the convolutions plus the three dense layers (VGG16: 2+2+3+3+3 = 13 convs + 3 = 16).
VGG_CONFIGS: dict[str, tuple[tuple[int, int], ...]] = {
    "vgg11": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),   # paper's column A
    "vgg13": ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),   # B
    "vgg16": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),   # D
    "vgg19": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),   # E
}

#: The small network's blocks for 28x28 inputs: 28 -> 14 -> 7 -> 3.
SMALL_CONFIG = ((1, 16), (1, 32), (2, 64))


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """``num_convs`` x (3x3 conv, stride 1, padding 1, ReLU), then 2x2 max pool, stride 2.

    x: (N, in_channels, H, W) -> (N, out_channels, H // 2, W // 2).
    """
    num_convs = _validate.positive_int("num_convs", num_convs)
    layers: list[nn.Module] = []
    c = _validate.positive_int("in_channels", in_channels)
    for _ in range(num_convs):
        layers += [nn.Conv2d(c, out_channels, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True)]
        c = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def depth(config: Sequence[tuple[int, int]], dense_layers: int = 3) -> int:
    """Weight layers of a VGG: all its convolutions plus the dense layers.

    >>> depth(VGG_CONFIGS["vgg16"]), depth(VGG_CONFIGS["vgg19"])
    (16, 19)
    """
    config = _validate.iterable("config", config, "a sequence of (convolutions, channels) pairs")
    if not all(isinstance(c, (tuple, list)) and len(c) == 2 for c in config):
        raise ValueError(f"config must hold (convolutions, channels) pairs, got {config!r}")
    return sum(_validate.nonneg_int("config convolutions", n) for n, _ in config) + \
        _validate.nonneg_int("dense_layers", dense_layers)


class VGG(nn.Module):
    """VGG: ``features`` (one ``Sequential`` per block), then flatten and a dense head
    ``Linear -> ReLU -> Dropout -> Linear -> ReLU -> Dropout -> Linear``.

    Args:
        config: ``(num_convs, out_channels)`` per block, e.g. ``VGG_CONFIGS["vgg16"]``.
        in_channels: 3 for RGB, 1 for grayscale.
        num_classes: outputs (ImageNet: 1000).
        hidden: width of the two hidden dense layers (paper: 4096).
        dropout: drop probability after the first two dense layers (paper: 0.5).
        input_size: height = width of the input; each block halves it (224 -> 7).
        avgpool_size: if set, an ``AdaptiveAvgPool2d`` to this size before flattening
            (torchvision uses 7, a no-op at 224x224 that lets other sizes work).

    Shapes: x: (N, in_channels, input_size, input_size) -> logits (N, num_classes).
    """

    def __init__(
        self,
        config: Sequence[tuple[int, int]] = VGG_CONFIGS["vgg16"],
        in_channels: int = 3,
        num_classes: int = 1000,
        hidden: int = 4096,
        dropout: float = 0.5,
        input_size: int = 224,
        avgpool_size: int | None = 7,
    ) -> None:
        super().__init__()
        if not config:
            raise ValueError("config must list at least one (num_convs, out_channels) block")
        blocks = []
        c = in_channels
        for num_convs, out_channels in config:
            blocks.append(vgg_block(num_convs, c, out_channels))
            c = out_channels
        self.features = nn.Sequential(*blocks)
        if avgpool_size is None:
            side = _validate.positive_int("input_size", input_size) // 2 ** len(config)
            if side < 1:
                raise ValueError(f"input_size {input_size} is too small for {len(config)} poolings")
            self.avgpool: nn.Module = nn.Identity()
        else:
            side = _validate.positive_int("avgpool_size", avgpool_size)
            self.avgpool = nn.AdaptiveAvgPool2d((side, side))
        self.flat_features = c * side * side
        self.classifier = nn.Sequential(
            nn.Linear(self.flat_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, H, W) -> logits (N, num_classes)."""
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg16(num_classes: int = 1000) -> VGG:
    """VGG16 (column D): 13 convs + 3 dense layers, 138,357,544 parameters at 3x224x224."""
    return VGG(VGG_CONFIGS["vgg16"], num_classes=num_classes)


def vgg19(num_classes: int = 1000) -> VGG:
    """VGG19 (column E): 16 convs + 3 dense layers, 143,667,240 parameters at 3x224x224."""
    return VGG(VGG_CONFIGS["vgg19"], num_classes=num_classes)


def small_vgg(num_classes: int = 10, hidden: int = 256, dropout: float = 0.5) -> VGG:
    """A VGG for 28x28 grayscale images: blocks (1x16), (1x32), (2x64) of 3x3 convs.

    Expects x: (N, 1, 28, 28) (MNIST / Fashion-MNIST) -> logits (N, num_classes).
    Feature maps 16x14x14 -> 32x7x7 -> 64x3x3 = 576 features -> 256 -> 256 -> 10.
    """
    return VGG(SMALL_CONFIG, in_channels=1, num_classes=num_classes, hidden=hidden,
               dropout=dropout, input_size=28, avgpool_size=None)

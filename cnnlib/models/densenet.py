"""DenseNet: dense blocks that concatenate, transition blocks that compress.

Inside a dense block (밀집 블록) every layer receives the concatenation (연결) of the
block's input and of *all* earlier layers' outputs, and adds ``growth_rate`` = k new
channels of its own::

    x_l = H_l([x_0, x_1, ..., x_{l-1}])          channels after l layers: C_0 + l * k

so the channel count grows *linearly* with depth, by k per layer. A transition block
(전이 블록) between dense blocks compresses the channels with a 1x1 convolution
(by ``compression``, 0.5 in DenseNet-BC) and halves H and W with 2x2 average pooling:
BatchNorm -> ReLU -> 1x1 conv -> 2x2 avg pool (Huang et al., 2017; torchvision).

- :class:`DenseLayer`: BN -> ReLU -> 1x1 conv (``bn_size`` * k channels, the
  "bottleneck") -> BN -> ReLU -> 3x3 conv (k channels).
- :class:`DenseBlock`, :class:`Transition`, :class:`DenseNet`; :func:`densenet121`
  (module names as torchvision's, so its ``state_dict`` loads) and :func:`small_densenet`
  for 28x28 grayscale images.
- :func:`dense_channels`: the channel count after every block and transition.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate


class DenseLayer(nn.Module):
    """One composite layer H_l: (N, C_in, H, W) -> (N, growth_rate, H, W), the *new* features only.

    With ``bn_size`` (DenseNet-B): BN -> ReLU -> 1x1 conv to ``bn_size * growth_rate``
    channels -> BN -> ReLU -> 3x3 conv to ``growth_rate``. With ``bn_size=None``: BN ->
    ReLU -> 3x3 conv. The caller (:class:`DenseBlock`) does the concatenation.
    """

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int | None = 4, drop_rate: float = 0.0) -> None:
        super().__init__()
        in_channels = _validate.positive_int("in_channels", in_channels)
        growth_rate = _validate.positive_int("growth_rate", growth_rate)
        if bn_size is None:
            self.norm1 = nn.BatchNorm2d(in_channels)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
            self.bottleneck = False
        else:
            mid = _validate.positive_int("bn_size", bn_size) * growth_rate
            self.norm1 = nn.BatchNorm2d(in_channels)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(mid)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)
            self.bottleneck = True
        self.drop_rate = float(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        if self.bottleneck:
            out = self.conv2(self.relu2(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class DenseBlock(nn.Module):
    """``num_layers`` dense layers; each sees the concatenation of everything before it.

    (N, C_in, H, W) -> (N, C_in + num_layers * growth_rate, H, W).
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int | None = 4,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        num_layers = _validate.positive_int("num_layers", num_layers)
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate))
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.children():
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    """BN -> ReLU -> 1x1 conv -> 2x2 average pooling (stride 2).

    (N, C_in, H, W) -> (N, C_out, floor(H/2), floor(W/2)). The ReLU is in the authors' code and
    in torchvision; the paper's text (§3) and the course notes list only BN, 1x1 conv and pooling.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        in_channels = _validate.positive_int("in_channels", in_channels)
        out_channels = _validate.positive_int("out_channels", out_channels)
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(in_channels)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            ("pool", nn.AvgPool2d(2, stride=2)),
        ]))


def dense_channels(num_init_features: int, block_config: Sequence[int], growth_rate: int,
                   compression: float = 0.5) -> list[tuple[str, int]]:
    """Channels after the stem, every dense block and every transition.

    The transition after block i (not after the last one) keeps
    ``floor(compression * C)`` channels. Returns ``[("stem", C0), ("block1", ...),
    ("transition1", ...), ..., ("block<n>", ...)]``.
    """
    c = _validate.positive_int("num_init_features", num_init_features)
    growth_rate = _validate.positive_int("growth_rate", growth_rate)
    if not 0 < compression <= 1:
        raise ValueError(f"compression must be in (0, 1], got {compression!r}")
    out = [("stem", c)]
    for i, n in enumerate(block_config):
        c += _validate.positive_int("block_config entry", n) * growth_rate
        out.append((f"block{i + 1}", c))
        if i != len(block_config) - 1:
            c = int(c * compression)
            out.append((f"transition{i + 1}", c))
    return out


class DenseNet(nn.Module):
    """Stem -> (dense block -> transition) * ... -> dense block -> BN -> ReLU -> GAP -> linear.

    x: (N, in_channels, H, W) -> logits (N, num_classes).

    Args:
        growth_rate: k, channels each dense layer adds.
        block_config: layers per dense block, e.g. (6, 12, 24, 16) for DenseNet-121.
        num_init_features: channels of the stem.
        bn_size: bottleneck width factor (1x1 conv to bn_size * k), ``None`` for none.
        compression: fraction of channels a transition keeps (0.5: DenseNet-BC).
        stem: ``"imagenet"``: 7x7 conv stride 2 + 3x3 max pooling stride 2 (224 -> 56);
            ``"small"``: one 3x3 conv with ``stem_stride`` (28 -> 28, or 14 with 2).

    Module names follow torchvision (``features.conv0`` ... ``features.norm5``,
    ``classifier``).
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int | None = 4,
        compression: float = 0.5,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: str = "imagenet",
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        if not block_config:
            raise ValueError("block_config must name at least one dense block")
        trace = dense_channels(num_init_features, block_config, growth_rate, compression)
        if stem == "imagenet":
            stem_layers = [
                ("conv0", nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU(inplace=True)),
                ("pool0", nn.MaxPool2d(3, stride=2, padding=1)),
            ]
        elif stem == "small":
            stem_layers = [
                ("conv0", nn.Conv2d(in_channels, num_init_features, 3, stride=stem_stride, padding=1, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU(inplace=True)),
            ]
        else:
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        self.features = nn.Sequential(OrderedDict(stem_layers))
        c = num_init_features
        for i, n in enumerate(block_config):
            block = DenseBlock(n, c, growth_rate, bn_size, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            c = block.out_channels
            if i != len(block_config) - 1:
                out = int(c * compression)
                self.features.add_module(f"transition{i + 1}", Transition(c, out))
                c = out
        self.features.add_module(f"norm{len(block_config) + 1}", nn.BatchNorm2d(c))
        assert c == trace[-1][1]
        self.out_channels = c
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.classifier(torch.flatten(x, 1))


def densenet121(num_classes: int = 1000) -> DenseNet:
    """DenseNet-121 (k = 32, blocks 6-12-24-16, DenseNet-BC): 7,978,856 parameters,
    2.83 G multiply-adds at 224x224."""
    return DenseNet(32, (6, 12, 24, 16), 64, num_classes=num_classes)


def small_densenet(
    growth_rate: int = 12,
    block_config: Sequence[int] = (4, 4, 4),
    num_init_features: int = 24,
    bn_size: int | None = 4,
    compression: float = 0.5,
    num_classes: int = 10,
    in_channels: int = 1,
    stem_stride: int = 1,
) -> DenseNet:
    """A small DenseNet-BC for 28x28 grayscale images.

    3x3 stem (``stem_stride`` 1 keeps 28x28, 2 gives 14x14), then the dense blocks, each
    transition halving H and W (28 -> 14 -> 7 with three blocks and stride 1).
    """
    return DenseNet(growth_rate, block_config, num_init_features, bn_size, compression,
                    num_classes=num_classes, in_channels=in_channels, stem="small", stem_stride=stem_stride)

"""ResNet: residual blocks, the paper's ImageNet networks, and small versions for 28x28.

A residual block (잔차 블록) adds its input to what its layers compute::

    H(x) = F(x) + shortcut(x)        then ReLU

so the layers ``F`` only have to learn the *residual* H(x) - x. The shortcut is the
identity when shapes match, and a **projection** (a 1x1 convolution with the block's
stride, then BatchNorm) when the block halves H, W or changes the number of channels
("option B" of He et al., 2015, the one torchvision uses).

- :class:`BasicBlock`: two 3x3 convolutions (ResNet-18/34 and the small models).
- :class:`Bottleneck`: 1x1 (reduce) -> 3x3 -> 1x1 (expand by 4) (ResNet-50/101/152),
  stride on the 3x3 convolution as in torchvision ("ResNet v1.5").
- :class:`ResNet`: stem -> four stages of blocks -> global average pooling -> linear.
  :func:`resnet18`, :func:`resnet34`, :func:`resnet50` give the paper's networks; their
  module names match torchvision's, so a torchvision ``state_dict`` loads into them.
- :func:`small_resnet`: a 3x3 stem without max pooling and three narrow stages, for
  28x28 grayscale images (Fashion-MNIST).
- :class:`PlainBlock` / :func:`deep_net`: the same blocks without the shortcut, or
  stacks of them, for the "deep plain network vs residual network" experiment.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .. import _validate


def _channels(in_channels: int, out_channels: int, stride: int) -> None:
    _validate.positive_int("in_channels", in_channels)
    _validate.positive_int("out_channels", out_channels)
    _validate.positive_int("stride", stride)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows): (N, C_in, H, W) -> (N, C_out, H/s, W/s)."""
    _channels(in_channels, out_channels, stride)
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias: mixes channels only; with ``stride`` 2 it also halves H and W."""
    _channels(in_channels, out_channels, stride)
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def projection(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential | None:
    """The shortcut of a block: ``None`` (identity) when shapes match, else 1x1 conv (stride) + BN.

    (N, C_in, H, W) -> (N, C_out, H/stride, W/stride).
    """
    _channels(in_channels, out_channels, stride)
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut: (N, C_in, H, W) -> (N, C_out, H/stride, W/stride).

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``: the ReLU comes *after*
    the addition. ``zero_init_residual`` sets ``bn2``'s scale to 0, so that at
    initialisation F(x) = 0 and the block is the identity (up to the final ReLU, which
    changes nothing on an input that is already >= 0).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, zero_init_residual: bool = False) -> None:
        super().__init__()
        in_channels = _validate.positive_int("in_channels", in_channels)
        out_channels = _validate.positive_int("out_channels", out_channels)
        stride = _validate.positive_int("stride", stride)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = projection(in_channels, out_channels, stride)
        if zero_init_residual:
            nn.init.zeros_(self.bn2.weight)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """F(x), the residual branch alone (no shortcut, no final ReLU)."""
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut branch: x itself, or its 1x1 projection."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 (reduce to ``width``) -> 3x3 (stride) -> 1x1 (expand to 4 * ``width``), plus a shortcut.

    (N, C_in, H, W) -> (N, 4 * width, H/stride, W/stride). The 1x1 convolutions make a
    deep network cheap: the 3x3 convolution works on ``width`` channels only.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, zero_init_residual: bool = False) -> None:
        super().__init__()
        in_channels = _validate.positive_int("in_channels", in_channels)
        width = _validate.positive_int("width", width)
        stride = _validate.positive_int("stride", stride)
        out_channels = width * self.expansion
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection(in_channels, out_channels, stride)
        if zero_init_residual:
            nn.init.zeros_(self.bn3.weight)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """F(x), the residual branch alone."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut branch: x itself, or its 1x1 projection."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


class PlainBlock(BasicBlock):
    """A :class:`BasicBlock` without its shortcut: ``relu(F(x))``. Same parameters when the
    shapes match; with a projection the 1x1 convolution is left out entirely."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, zero_init_residual: bool = False) -> None:
        super().__init__(in_channels, out_channels, stride, zero_init_residual)
        self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x))


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck, "plain": PlainBlock}


def make_stage(block: type[nn.Module], in_channels: int, width: int, num_blocks: int, stride: int,
               zero_init_residual: bool = False) -> nn.Sequential:
    """``num_blocks`` blocks; the first one has the stride (and the projection, if needed).

    (N, C_in, H, W) -> (N, width * block.expansion, H/stride, W/stride).
    """
    num_blocks = _validate.positive_int("num_blocks", num_blocks)
    blocks = [block(in_channels, width, stride, zero_init_residual)]
    out_channels = width * block.expansion
    blocks += [block(out_channels, width, 1, zero_init_residual) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    """Stem -> stages of residual blocks -> global average pooling -> linear.

    x: (N, in_channels, H, W) -> logits (N, num_classes).

    Args:
        block: :class:`BasicBlock`, :class:`Bottleneck` or :class:`PlainBlock`.
        layers: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.
        widths: block width per stage (output channels are width * block.expansion).
        stem: ``"imagenet"``: 7x7 conv stride 2 (64 channels) + 3x3 max pooling stride 2,
            as in the paper (224 -> 56); ``"small"``: one 3x3 conv stride 1 with
            ``stem_channels`` channels and no pooling, for 28x28 or 32x32 images.
        zero_init_residual: zero the last BN scale of every block (each block starts as
            the identity; torchvision's option of the same name).
        strides: stride of each stage's first block; default: 1 for the first stage
            (it keeps the resolution), 2 for every later one (each halves H and W).
        stem_stride: stride of the ``"small"`` stem's 3x3 convolution (2 halves the image
            at once, 28 -> 14, and saves the work of a full-resolution stem).
    Module names (``conv1``, ``bn1``, ``layer1`` ... ``fc``) follow torchvision.
    """

    def __init__(
        self,
        block: type[nn.Module],
        layers: Sequence[int],
        widths: Sequence[int] = (64, 128, 256, 512),
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: str = "imagenet",
        stem_channels: int | None = None,
        zero_init_residual: bool = False,
        strides: Sequence[int] | None = None,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        stem_stride = _validate.positive_int("stem_stride", stem_stride)
        if len(layers) != len(widths) or not layers:
            raise ValueError(f"layers and widths must have the same non-zero length, got {list(layers)} and {list(widths)}")
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        strides = tuple(strides) if strides is not None else (1,) + (2,) * (len(layers) - 1)
        if len(strides) != len(layers):
            raise ValueError(f"strides must have one entry per stage ({len(layers)}), got {list(strides)}")
        stem_channels = _validate.positive_int("stem_channels", stem_channels if stem_channels is not None else widths[0])
        if stem == "imagenet":
            if stem_stride != 1:
                raise ValueError(f"stem_stride is only for stem='small' (the ImageNet stem has its own), got {stem_stride}")
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = conv3x3(in_channels, stem_channels, stride=stem_stride)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        channels = stem_channels
        for i, (n, w, s) in enumerate(zip(layers, widths, strides)):
            stage = make_stage(block, channels, w, n, stride=s, zero_init_residual=zero_init_residual)
            self.add_module(f"layer{i + 1}", stage)
            channels = w * block.expansion
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stages(self) -> list[nn.Sequential]:
        """The stages ``layer1``, ``layer2``, ... in order."""
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_stages)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages():
            x = stage(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18 of He et al. (2015): 11,689,512 parameters, 1.81 G multiply-adds at 224x224."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34: 21,797,672 parameters, 3.66 G multiply-adds at 224x224."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes=num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50 (bottleneck blocks): 25,557,032 parameters, 4.09 G multiply-adds at 224x224."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes)


def small_resnet(
    widths: Sequence[int] = (16, 32, 64),
    layers: Sequence[int] = (1, 1, 1),
    num_classes: int = 10,
    in_channels: int = 1,
    block: str = "basic",
    stem_channels: int | None = None,
    zero_init_residual: bool = False,
    strides: Sequence[int] | None = None,
    stem_stride: int = 1,
) -> ResNet:
    """A narrow ResNet for 28x28 grayscale images (Fashion-MNIST, MNIST).

    3x3 stem (no max pooling), then one stage per width, the first at 28x28 and each
    later one halving H and W: with the defaults 28 -> 14 -> 7, then global average
    pooling. ``strides`` overrides the stride of each stage (e.g. (2, 2, 2): 14 -> 7 -> 4);
    ``stem_stride=2`` makes the stem halve the image instead (28 -> 14), which is cheaper
    than a first block with stride 2 because no layer then works at 28x28 with many channels.
    ``block``: ``"basic"``, ``"bottleneck"`` or ``"plain"`` (no shortcuts).
    """
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {sorted(BLOCKS)}, got {block!r}")
    return ResNet(BLOCKS[block], layers, widths, num_classes=num_classes, in_channels=in_channels,
                  stem="small", stem_channels=stem_channels, zero_init_residual=zero_init_residual,
                  strides=strides, stem_stride=stem_stride)


def num_conv_layers(model: nn.Module) -> int:
    """Number of ``nn.Conv2d`` modules in ``model`` (projection shortcuts included)."""
    _validate.module("model", model)
    return sum(isinstance(m, nn.Conv2d) for m in model.modules())

"""Network in Network (Lin, Chen & Yan, 2014) and GoogLeNet (Szegedy et al., CVPR 2015).

Blocks:

- :func:`nin_block`: NiN's "mlpconv" layer, a k x k convolution followed by two 1x1
  convolutions (each 1x1 convolution is a small fully connected layer applied at every
  pixel: it mixes channels, not positions), ReLU after each.
- :func:`conv_unit`: ``Conv2d -> ReLU`` (the paper) or ``Conv2d(bias=False) ->
  BatchNorm2d -> ReLU`` (torchvision's ``BasicConv2d``).
- :class:`Inception`: four parallel branches on the same input, concatenated along the
  channels: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1. The 1x1 "reductions"
  in front of the 3x3 and 5x5 convolutions shrink the channels those expensive kernels
  see; the pool branch's 1x1 "projection" keeps the pooled channels from piling up.
- :class:`NaiveInception`: the paper's Figure 2(a), without any 1x1 reduction, to compare.
- :class:`InceptionAux`: the auxiliary classifier GoogLeNet trains with (dropped at test time).

Models:

- :func:`googlenet` ``("paper")``: Table 1 of the paper (5x5 kernels, LRN in the stem,
  no BatchNorm, dropout 0.4); 6,998,552 parameters, 5,973,552 without the final
  1000-class layer.
- :func:`googlenet` ``("torchvision")``: ``torchvision.models.googlenet(aux_logits=False)``
  parameter for parameter (6,624,904): BatchNorm after every convolution (from
  Inception-v2), bias-free convolutions, no LRN, and 3x3 kernels in the "5x5" branch (a
  known slip torchvision keeps for its pretrained weights).
- :func:`nin`: d2l's NiN for 224x224 images: no dense layer at all, global average pooling
  over a 1000-channel map.
- :func:`small_googlenet`: a stem and three Inception blocks for 28x28 Fashion-MNIST.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .. import _validate
from .alexnet import paper_lrn

#: Table 1 of the paper: name -> (in_channels, #1x1, (#3x3 reduce, #3x3), (#5x5 reduce, #5x5), pool proj).
INCEPTION_CONFIGS: dict[str, tuple[int, int, tuple[int, int], tuple[int, int], int]] = {
    "3a": (192, 64, (96, 128), (16, 32), 32),
    "3b": (256, 128, (128, 192), (32, 96), 64),
    "4a": (480, 192, (96, 208), (16, 48), 64),
    "4b": (512, 160, (112, 224), (24, 64), 64),
    "4c": (512, 128, (128, 256), (24, 64), 64),
    "4d": (512, 112, (144, 288), (32, 64), 64),
    "4e": (528, 256, (160, 320), (32, 128), 128),
    "5a": (832, 256, (160, 320), (32, 128), 128),
    "5b": (832, 384, (192, 384), (48, 128), 128),
}


def _conv_args(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int) -> None:
    _validate.positive_int("in_channels", in_channels)
    _validate.positive_int("out_channels", out_channels)
    _validate.pair("kernel_size", kernel_size)
    _validate.pair("stride", stride)
    _validate.pair("padding", padding, _validate.nonneg_int)


def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """NiN's mlpconv: ``k x k conv -> ReLU -> 1x1 conv -> ReLU -> 1x1 conv -> ReLU``.

    x: (N, in_channels, H, W) -> (N, out_channels, H', W') with H' the conv's output size.
    """
    _conv_args(in_channels, out_channels, kernel_size, stride, padding)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
    )


def nin(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """Network in Network for 224x224 images (the version of d2l.ai, AlexNet's widths).

    Four mlpconv blocks, the last with ``num_classes`` channels, then global average
    pooling: one number per class map, no dense layer. x: (N, 3, 224, 224) -> (N, num_classes).
    """
    return nn.Sequential(
        nin_block(in_channels, 96, 11, stride=4), nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, 5, padding=2), nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, 3, padding=1), nn.MaxPool2d(3, stride=2),
        nn.Dropout(dropout),
        nin_block(384, num_classes, 3, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


def conv_unit(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
              batch_norm: bool = False) -> nn.Sequential:
    """``Conv2d -> ReLU``, or with ``batch_norm`` ``Conv2d(bias=False) -> BatchNorm2d(eps=1e-3) -> ReLU``.

    x: (N, in_channels, H, W) -> (N, out_channels, H', W').
    """
    _conv_args(in_channels, out_channels, kernel_size, stride, padding)
    batch_norm = _validate.flag("batch_norm", batch_norm)
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=not batch_norm)
    if batch_norm:
        return nn.Sequential(conv, nn.BatchNorm2d(out_channels, eps=0.001), nn.ReLU())
    return nn.Sequential(conv, nn.ReLU())


class Inception(nn.Module):
    """An Inception block: four branches on the same input, concatenated along channels.

    Args:
        in_channels: channels of the input.
        c1: filters of the 1x1 branch.
        c3: ``(reduce, out)``: a 1x1 conv to ``reduce`` channels, then a 3x3 conv to ``out``.
        c5: ``(reduce, out)``: a 1x1 conv to ``reduce`` channels, then a 5x5 conv to ``out``.
        pool_proj: filters of the 1x1 conv after the 3x3 max pool (stride 1).
        batch_norm: use torchvision's conv -> BatchNorm -> ReLU units.
        k5: kernel of the "5x5" branch (torchvision: 3).

    Every branch keeps the height and width (padding 1 for 3x3, 2 for 5x5, stride 1),
    which is what lets ``torch.cat`` stack them.
    x: (N, in_channels, H, W) -> (N, c1 + c3[1] + c5[1] + pool_proj, H, W).
    """

    def __init__(self, in_channels: int, c1: int, c3: tuple[int, int], c5: tuple[int, int], pool_proj: int,
                 batch_norm: bool = False, k5: int = 5) -> None:
        super().__init__()
        if k5 % 2 == 0:
            raise ValueError(f"k5 must be odd so that padding k5 // 2 keeps the size, got {k5}")
        bn = batch_norm
        self.branch1 = conv_unit(in_channels, c1, 1, batch_norm=bn)
        self.branch2 = nn.Sequential(conv_unit(in_channels, c3[0], 1, batch_norm=bn),
                                     conv_unit(c3[0], c3[1], 3, padding=1, batch_norm=bn))
        self.branch3 = nn.Sequential(conv_unit(in_channels, c5[0], 1, batch_norm=bn),
                                     conv_unit(c5[0], c5[1], k5, padding=k5 // 2, batch_norm=bn))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     conv_unit(in_channels, pool_proj, 1, batch_norm=bn))
        self.out_channels = c1 + c3[1] + c5[1] + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, H, W) -> (N, out_channels, H, W)."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class NaiveInception(nn.Module):
    """The paper's "naive" Inception (Figure 2a): 1x1 | 3x3 | 5x5 | 3x3 max pool, no reductions.

    The pool branch passes all ``in_channels`` through, so the output has
    ``c1 + c3 + c5 + in_channels`` channels: stacking such blocks makes the channels grow.
    x: (N, in_channels, H, W) -> (N, c1 + c3 + c5 + in_channels, H, W).
    """

    def __init__(self, in_channels: int, c1: int, c3: int, c5: int) -> None:
        super().__init__()
        self.branch1 = conv_unit(in_channels, c1, 1)
        self.branch2 = conv_unit(in_channels, c3, 3, padding=1)
        self.branch3 = conv_unit(in_channels, c5, 5, padding=2)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)
        self.out_channels = c1 + c3 + c5 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, H, W) -> (N, out_channels, H, W)."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier (paper section 5), used only during training.

    5x5 average pool, stride 3 -> 1x1 conv to 128 -> ReLU -> dense 1024 -> ReLU ->
    dropout 0.7 -> dense ``num_classes``. x: (N, in_channels, 14, 14) -> (N, num_classes).
    """

    def __init__(self, in_channels: int, num_classes: int = 1000, dropout: float = 0.7) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv = conv_unit(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, 14, 14) -> logits (N, num_classes)."""
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) for 224x224 images, module names as in torchvision.

    stem: 7x7/2 conv 64 -> 3x3/2 max pool -> [LRN] -> 1x1 conv 64 -> 3x3 conv 192 -> [LRN]
    -> 3x3/2 max pool; Inception 3a, 3b -> pool -> 4a..4e -> pool -> 5a, 5b -> global
    average pool -> dropout -> dense ``num_classes``. All max pools use ``ceil_mode``
    (Caffe's rounding), which gives the paper's 56, 28, 14 and 7.

    Args:
        batch_norm: conv -> BatchNorm -> ReLU units (torchvision) instead of conv -> ReLU.
        lrn: local response normalization in the stem (the paper).
        k5: kernel of the "5x5" branches (paper 5, torchvision 3).
        pool4: kernel of the pool between 4e and 5a (paper 3, torchvision 2; both give 7x7).
        dropout: before the last layer (paper 0.4, torchvision 0.2).

    Shapes: x: (N, in_channels, 224, 224) -> logits (N, num_classes).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, lrn: bool = True,
                 k5: int = 5, pool4: int = 3, dropout: float = 0.4) -> None:
        super().__init__()
        bn = batch_norm
        self.conv1 = conv_unit(in_channels, 64, 7, stride=2, padding=3, batch_norm=bn)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1: nn.Module = paper_lrn() if lrn else nn.Identity()
        self.conv2 = conv_unit(64, 64, 1, batch_norm=bn)
        self.conv3 = conv_unit(64, 192, 3, padding=1, batch_norm=bn)
        self.lrn2: nn.Module = paper_lrn() if lrn else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        blocks = {name: Inception(*cfg, batch_norm=bn, k5=k5) for name, cfg in INCEPTION_CONFIGS.items()}
        self.inception3a, self.inception3b = blocks["3a"], blocks["3b"]
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a, self.inception4b, self.inception4c = blocks["4a"], blocks["4b"], blocks["4c"]
        self.inception4d, self.inception4e = blocks["4d"], blocks["4e"]
        self.maxpool4 = nn.MaxPool2d(pool4, stride=2, ceil_mode=True)
        self.inception5a, self.inception5b = blocks["5a"], blocks["5b"]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, 224, 224) -> logits (N, num_classes)."""
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(self.lrn1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for block in (self.inception4a, self.inception4b, self.inception4c, self.inception4d, self.inception4e):
            x = block(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def googlenet(variant: str = "paper", num_classes: int = 1000) -> GoogLeNet:
    """GoogLeNet as in the paper (``"paper"``, 6,998,552 parameters) or as torchvision
    builds it (``"torchvision"``, 6,624,904: BatchNorm, 3x3 "5x5" branches, no LRN)."""
    if variant == "paper":
        return GoogLeNet(num_classes)
    if variant == "torchvision":
        return GoogLeNet(num_classes, batch_norm=True, lrn=False, k5=3, pool4=2, dropout=0.2)
    raise ValueError(f"variant must be 'paper' or 'torchvision', got {variant!r}")


def small_googlenet(num_classes: int = 10, dropout: float = 0.4) -> nn.Sequential:
    """A GoogLeNet for 28x28 grayscale images: a strided stem and three Inception blocks.

    Expects x: (N, 1, 28, 28) (MNIST / Fashion-MNIST) -> logits (N, num_classes).
    stem 5x5/2 conv 32x14x14 -> Inception 64x14x14 -> 3x3/2 max pool -> Inception 112x7x7
    -> Inception 144x7x7 -> global average pool -> dropout -> dense 10. No hidden dense
    layer: 66,386 parameters, 4.4 M multiply-adds. (Like GoogLeNet's 7x7/2 stem, the stem
    halves the image at once. On a CPU, converting the model with
    ``.to(memory_format=torch.channels_last)`` makes its max pooling much faster.)
    """
    _validate.positive_int("num_classes", num_classes)
    a = Inception(32, 16, (16, 32), (8, 8), 8)
    b = Inception(a.out_channels, 32, (32, 48), (8, 16), 16)
    c = Inception(b.out_channels, 48, (32, 64), (8, 16), 16)
    return nn.Sequential(OrderedDict([
        ("stem", conv_unit(1, 32, 5, stride=2, padding=2)),
        ("inception_a", a),
        ("pool", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        ("inception_b", b),
        ("inception_c", c),
        ("avgpool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("dropout", nn.Dropout(dropout)),
        ("fc", nn.Linear(c.out_channels, num_classes)),
    ]))

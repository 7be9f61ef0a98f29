"""AlexNet (Krizhevsky, Sutskever & Hinton, NeurIPS 2012), built from one kind of stage.

A *stage* is ``conv -> activation [-> local response norm] [-> overlapping max pool]``
(:class:`ConvStage`); the network is five stages, a flatten and a three-layer fully
connected head with dropout (드롭아웃) in front of the first two dense layers. Three
configurations use the same code:

- :func:`alexnet` ``("paper")``: the 2012 paper. 96/256/384/384/256 filters; conv2, conv4
  and conv5 are *grouped* (``groups=2``), which is how the paper split the model over two
  GPUs (each half only sees the channels on its own GPU); LRN after conv1 and conv2;
  3x3 stride-2 max pooling after conv1, conv2 and conv5. The paper says 224x224 inputs,
  but its own 55x55 first feature map needs 227x227 without padding
  (``(227 - 11) / 4 + 1 = 55``; ``(224 - 11) / 4 + 1 = 54.25``). 60,965,224 parameters.
- :func:`alexnet` ``("torchvision")``: the variant torchvision ships, from Krizhevsky's
  "One weird trick" (2014): 64/192/384/256/256 filters, no groups, no LRN, padding 2 in
  conv1 so that 224x224 works, and an ``AdaptiveAvgPool2d(6)``. 61,100,840 parameters, in
  the same modules, names and shapes as ``torchvision.models.alexnet()`` (its weights load).
- :func:`small_alexnet`: the same stages for 28x28 Fashion-MNIST, 139,466 parameters.

:class:`RandomCropFlip` is AlexNet's data augmentation (random crops and horizontal
flips) as a ``TensorLoader`` transform.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
from torch import nn

from .. import _validate
from ..shapes import conv2d_output_size, pool2d_output_size

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


@dataclass(frozen=True)
class ConvStage:
    """One AlexNet stage: ``Conv2d -> activation [-> LRN] [-> MaxPool2d(3, stride=2)]``.

    ``groups=2`` splits the input and output channels into two halves that never see
    each other: the paper's two-GPU layout, with half the weights of a full convolution.
    """

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    lrn: bool = False
    pool: bool = False


#: The 2012 paper: 96/256/384/384/256 filters, conv2/4/5 split over two GPUs, LRN, 227x227 input.
PAPER_STAGES = (
    ConvStage(96, 11, stride=4, lrn=True, pool=True),
    ConvStage(256, 5, padding=2, groups=2, lrn=True, pool=True),
    ConvStage(384, 3, padding=1),
    ConvStage(384, 3, padding=1, groups=2),
    ConvStage(256, 3, padding=1, groups=2, pool=True),
)

#: torchvision's "one weird trick" AlexNet: 64/192/384/256/256, no groups, no LRN, 224x224.
TORCHVISION_STAGES = (
    ConvStage(64, 11, stride=4, padding=2, pool=True),
    ConvStage(192, 5, padding=2, pool=True),
    ConvStage(384, 3, padding=1),
    ConvStage(256, 3, padding=1),
    ConvStage(256, 3, padding=1, pool=True),
)

#: A small AlexNet for 28x28 grayscale images: the same five stages, narrower, a 5x5 first
#: kernel with stride 1, and no LRN (it would cost more CPU time than all convolutions together).
SMALL_STAGES = (
    ConvStage(16, 5, padding=2, pool=True),
    ConvStage(32, 5, padding=2, groups=2, pool=True),
    ConvStage(48, 3, padding=1),
    ConvStage(48, 3, padding=1, groups=2),
    ConvStage(32, 3, padding=1, groups=2, pool=True),
)

#: Overlapping pooling: a 3x3 window moved by 2 pixels, so neighbouring windows share a row/column.
POOL_SIZE, POOL_STRIDE = 3, 2


def paper_lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.LocalResponseNorm:
    """Local response normalization (국소 응답 정규화) with the paper's constants.

    The paper (section 3.3) divides each activation by its neighbours across channels::

        b[c] = a[c] / (k + alpha * sum_{c' = c - n//2 .. c + n//2} a[c']**2) ** beta

    with ``n = 5, k = 2, alpha = 1e-4, beta = 0.75``. ``nn.LocalResponseNorm`` divides
    ``alpha`` by ``n`` (it uses the mean of the squares, not their sum), so the paper's
    ``alpha`` becomes ``alpha * n`` here. Shapes: (N, C, H, W) -> (N, C, H, W).
    """
    size = _validate.positive_int("size", size)
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def stage_modules(in_channels: int, stage: ConvStage, activation: str = "relu") -> list[nn.Module]:
    """The layers of one :class:`ConvStage`, as a flat list (so that ``features`` keeps
    torchvision's indices: ``features.0`` conv1, ``features.3`` conv2, ...).

    x: (N, in_channels, H, W) -> (N, stage.out_channels, H', W').
    """
    _validate.positive_int("in_channels", in_channels)
    if not isinstance(stage, ConvStage):
        raise TypeError(f"stage must be a ConvStage, got {type(stage).__name__}")
    act = _activation(activation)
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, stage.out_channels, stage.kernel_size, stride=stage.stride,
                  padding=stage.padding, groups=stage.groups),
        act(),
    ]
    if stage.lrn:
        layers.append(paper_lrn())
    if stage.pool:
        layers.append(nn.MaxPool2d(POOL_SIZE, stride=POOL_STRIDE))
    return layers


def feature_size(stages: Sequence[ConvStage], input_size: int) -> int:
    """Height (= width) of the last feature map of ``stages`` on a square input.

    >>> feature_size(PAPER_STAGES, 227)      # 227 -> 55 -> 27 -> 27 -> 13 -> 13 -> 13 -> 6
    6
    """
    h = _validate.positive_int("input_size", input_size)
    for st in stages:
        h = conv2d_output_size(h, st.kernel_size, stride=st.stride, padding=st.padding)
        if st.pool:
            h = pool2d_output_size(h, POOL_SIZE, stride=POOL_STRIDE)
    return h


class AlexNet(nn.Module):
    """AlexNet: five :class:`ConvStage` s, flatten, then ``[dropout, linear, act] x 2, linear``.

    Args:
        stages: the five convolution stages (:data:`PAPER_STAGES`, :data:`TORCHVISION_STAGES`,
            :data:`SMALL_STAGES` or your own).
        in_channels: 3 for RGB, 1 for grayscale.
        num_classes: outputs of the last layer (ImageNet: 1000).
        hidden: width of the two hidden dense layers (paper: 4096).
        dropout: drop probability in front of the first two dense layers (torchvision's placement;
            the paper drops the outputs of fc6 and fc7; p = 0.5 in both).
        activation: ``"relu"`` (the paper), ``"tanh"`` or ``"sigmoid"`` (to compare).
        input_size: height = width of the input (sets the flatten size when
            ``avgpool_size`` is None).
        avgpool_size: if set, an ``AdaptiveAvgPool2d`` to this size before flattening
            (torchvision's choice, so any input size works); else the feature map is
            flattened as it is (the paper).

    Shapes: x: (N, in_channels, input_size, input_size) -> logits (N, num_classes).
    """

    def __init__(
        self,
        stages: Sequence[ConvStage] = PAPER_STAGES,
        in_channels: int = 3,
        num_classes: int = 1000,
        hidden: int = 4096,
        dropout: float = 0.5,
        activation: str = "relu",
        input_size: int = 227,
        avgpool_size: int | None = None,
    ) -> None:
        super().__init__()
        act = _activation(activation)
        layers: list[nn.Module] = []
        c = _validate.positive_int("in_channels", in_channels)
        for st in stages:
            layers += stage_modules(c, st, activation)
            c = st.out_channels
        self.features = nn.Sequential(*layers)
        if avgpool_size is None:
            side = feature_size(stages, input_size)
            self.avgpool: nn.Module = nn.Identity()
        else:
            side = _validate.positive_int("avgpool_size", avgpool_size)
            self.avgpool = nn.AdaptiveAvgPool2d((side, side))
        self.flat_features = c * side * side
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(self.flat_features, hidden), act(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), act(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, H, W) -> logits (N, num_classes)."""
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet(variant: str = "paper", num_classes: int = 1000) -> AlexNet:
    """Full-size AlexNet for 3x227x227 (``"paper"``) or 3x224x224 (``"torchvision"``) images.

    ``"paper"``: 60,965,224 parameters; ``"torchvision"``: 61,100,840, module for module
    the same as ``torchvision.models.alexnet()``. Build it under
    ``with torch.device("meta"):`` to count without allocating 240 MB.
    """
    if variant == "paper":
        return AlexNet(PAPER_STAGES, num_classes=num_classes, input_size=227)
    if variant == "torchvision":
        return AlexNet(TORCHVISION_STAGES, num_classes=num_classes, avgpool_size=6)
    raise ValueError(f"variant must be 'paper' or 'torchvision', got {variant!r}")


def small_alexnet(num_classes: int = 10, activation: str = "relu", hidden: int = 256, dropout: float = 0.5,
                  lrn: bool = False) -> AlexNet:
    """AlexNet's stages (grouped convs, overlapping pooling, dropout) for 28x28 images.

    Expects x: (N, 1, 28, 28) (MNIST / Fashion-MNIST) -> logits (N, num_classes).
    Feature maps: 16x28x28 -> pool 13 -> 32x13x13 -> pool 6 -> 48x6x6 -> 48x6x6 -> 32x6x6
    -> pool 2 -> 128 features -> 256 -> 256 -> 10: 139,466 parameters, 2.6 M multiply-adds.
    ``lrn=True`` adds the paper's LRN after the first two stages (slow on a CPU).
    Weights start from :func:`init_weights` for ``activation``.
    """
    stages = [replace(st, lrn=lrn) if i < 2 else st for i, st in enumerate(SMALL_STAGES)]
    model = AlexNet(stages, in_channels=1, num_classes=num_classes, hidden=hidden,
                    dropout=dropout, activation=activation, input_size=28)
    return init_weights(model, activation)


def init_weights(model: nn.Module, activation: str = "relu") -> nn.Module:
    """Re-initialize every Conv2d and Linear for ``activation``, in place; returns ``model``.

    Weights ~ N(0, std) with ``std = gain / sqrt(fan_in)`` (fan_in = inputs of one output
    value, ``C_in/groups * kH * kW`` for a convolution) and ``gain =
    nn.init.calculate_gain(activation)``: sqrt(2) for ReLU (He et al., 2015), 5/3 for tanh,
    1 for sigmoid; biases 0. With this the activations keep about the same scale from layer
    to layer, so every activation starts on an equal footing. (PyTorch's default init is
    smaller, std = 1/sqrt(3 fan_in), which slows deep ReLU nets trained with plain SGD; the
    paper used N(0, 0.01) and biases of 1 in some layers.)
    """
    _validate.module("model", model)
    _activation(activation)
    gain = nn.init.calculate_gain(activation)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, 0.0, gain / fan_in ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class RandomCropFlip:
    """AlexNet-style data augmentation (데이터 증강) for a ``TensorLoader``: random crops and
    random horizontal flips, a new draw for every image of every batch.

    Each image is zero-padded by ``pad`` pixels on every side and a crop of the original
    size is cut at a random offset (a shift of up to ``pad`` pixels), then mirrored left-right
    with probability ``flip_p``. (AlexNet cut random 224x224 crops out of 256x256 images.)

    Call: ``(x, generator) -> x'`` with x: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, pad: int = 2, flip_p: float = 0.5) -> None:
        self.pad = _validate.nonneg_int("pad", pad)
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must be a probability in [0, 1], got {flip_p}")
        self.flip_p = flip_p

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
        b, _, h, w = x.shape
        p = self.pad
        if p:
            padded = nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            rows = (dy[:, None] + torch.arange(h))[:, None, :, None]        # (B, 1, H, 1)
            cols = (dx[:, None] + torch.arange(w))[:, None, None, :]        # (B, 1, 1, W)
            batch = torch.arange(b)[:, None, None, None]
            chans = torch.arange(x.shape[1])[None, :, None, None]
            x = padded[batch, chans, rows, cols]
        flip = torch.rand(b, generator=generator) < self.flip_p
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

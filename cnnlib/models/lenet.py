"""LeNet as the course builds it, and a fixed hand-made feature extractor to compare with.

:class:`LeNet` is the "classic pipeline" of the notes (000, 001)::

    image -> conv1 -> act -> pool -> conv2 -> act -> pool -> flatten -> fc1 -> act -> fc2 -> act -> fc3 -> logits
             (6 filters)             (16 filters)                        (120)          (84)         (10)

With the defaults (5x5 kernels, ``padding=2`` in the first convolution, ReLU, 2x2 max
pooling) a 28x28 MNIST digit gives feature maps of 6x28x28, 6x14x14, 16x10x10 and
16x5x5 = 400 features for the classifier: the layout of LeCun et al. (1998), whose
32x32 inputs are MNIST's 28x28 digits padded by 2. Parameters: 61,706 (the paper's
partially connected C3 and RBF output make its own count about 60,000).

:class:`HandMadeFeatures` replaces the learned convolutions by a bank of fixed edge,
blur, sharpen and Laplacian kernels (:mod:`cnnlib.kernels`, no trainable parameter): the feature extractor of a
"classic" pipeline, designed by hand, on which only a classifier is trained.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import _validate

from .. import kernels
from ..shapes import conv2d_output_size, pool2d_output_size

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _choice(name: str, value: str, options: dict) -> type[nn.Module]:
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return options[value]


def lenet_feature_size(
    input_size: int = 28,
    kernel_size: int = 5,
    padding: int = 2,
    pool_size: int = 2,
) -> int:
    """Height (= width) of LeNet's last feature map for a square ``input_size`` image.

    conv1 (``padding``) -> pool -> conv2 (no padding) -> pool, each pool with
    kernel = stride = ``pool_size``. 28 -> 28 -> 14 -> 10 -> 5 with the defaults.
    """
    h = conv2d_output_size(input_size, kernel_size, padding=padding)
    h = pool2d_output_size(h, pool_size)
    h = conv2d_output_size(h, kernel_size)
    return pool2d_output_size(h, pool_size)


def lenet_classifier(
    in_features: int,
    hidden: Sequence[int] = (120, 84),
    num_classes: int = 10,
    activation: str = "relu",
) -> nn.Sequential:
    """LeNet's fully connected head: fc1 -> act -> fc2 -> act -> fc3 (logits, no softmax).

    x: (N, in_features) -> (N, num_classes). Used by :class:`LeNet` and, on top of
    :class:`HandMadeFeatures`, by the "classic pipeline" it is compared with.
    """
    in_features = _validate.positive_int("in_features", in_features)
    num_classes = _validate.positive_int("num_classes", num_classes)
    act = _choice("activation", activation, ACTIVATIONS)
    hidden = _validate.iterable("hidden", hidden, "two layer widths, e.g. (120, 84)")
    if len(hidden) != 2:
        raise ValueError(f"hidden must have two entries, got {tuple(hidden)}")
    h1, h2 = hidden
    return nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(in_features, h1)),
        ("act3", act()),
        ("fc2", nn.Linear(h1, h2)),
        ("act4", act()),
        ("fc3", nn.Linear(h2, num_classes)),
    ]))


class LeNet(nn.Module):
    """LeNet-5 style CNN: two conv -> activation -> pool stages, then three FC layers.

    Args:
        num_classes: outputs of the last layer (10 digits).
        in_channels: 1 for grayscale, 3 for colour.
        channels: filters of conv1 and conv2 (the notes' "6 then 16 filter banks";
            a hyperparameter).
        hidden: widths of the two hidden fully connected layers.
        kernel_size: square kernel of both convolutions.
        padding: zero padding of conv1 (2 keeps 28x28; conv2 is unpadded).
        activation: ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
        pool: ``"max"`` or ``"avg"`` (2x2, stride 2).
        input_size: height = width of the input images (sets the flatten size).

    Shapes: x: (N, in_channels, input_size, input_size) -> logits (N, num_classes).
    ``features(x)``: (N, channels[1], S, S) with S = :func:`lenet_feature_size`;
    ``classifier`` takes the flattened (N, channels[1] * S * S).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        channels: Sequence[int] = (6, 16),
        hidden: Sequence[int] = (120, 84),
        kernel_size: int = 5,
        padding: int = 2,
        activation: str = "relu",
        pool: str = "max",
        input_size: int = 28,
    ) -> None:
        super().__init__()
        act = _choice("activation", activation, ACTIVATIONS)
        pool_cls = _choice("pool", pool, POOLS)
        if len(channels) != 2:
            raise ValueError(f"channels must have two entries (conv1, conv2), got {tuple(channels)}")
        c1, c2 = channels
        side = lenet_feature_size(input_size, kernel_size, padding)
        self.flat_features = c2 * side * side
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c1, kernel_size, padding=padding)),
            ("act1", act()),
            ("pool1", pool_cls(2)),
            ("conv2", nn.Conv2d(c1, c2, kernel_size)),
            ("act2", act()),
            ("pool2", pool_cls(2)),
        ]))
        self.flatten = nn.Flatten()
        self.classifier = lenet_classifier(self.flat_features, hidden, num_classes, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, H, W) -> logits (N, num_classes) (no softmax: see F.cross_entropy)."""
        return self.classifier(self.flatten(self.features(x)))


def hand_made_kernels() -> dict[str, torch.Tensor]:
    """Eight fixed 3x3 kernels from :mod:`cnnlib.kernels`: blur, sharpen, edges, Laplacian.

    Edges and the Laplacian come in pairs of opposite sign because a ReLU after the
    convolution keeps only positive responses (dark-to-bright and bright-to-dark edges,
    dark and bright spots/lines). Each kernel is scaled so that its absolute weights sum
    to 1: on pixels in [0, 1] every response lies in [-1, 1], so no feature dominates by
    scale alone.
    """
    raw = {
        "blur": kernels.box_blur(),
        "sharpen": kernels.sharpen(),
        "Sobel x": kernels.sobel("x"),
        "-Sobel x": -kernels.sobel("x"),
        "Sobel y": kernels.sobel("y"),
        "-Sobel y": -kernels.sobel("y"),
        "Laplacian": kernels.laplacian(),
        "-Laplacian": -kernels.laplacian(),
    }
    return {name: torch.from_numpy(k / np.abs(k).sum()) for name, k in raw.items()}


class HandMadeFeatures(nn.Module):
    """A fixed (non-trainable) feature extractor from hand-made kernels.

    conv with the kernels of :func:`hand_made_kernels` (padding 1) -> ReLU -> 4x4 max
    pool (the same as two 2x2 max pools in a row, like LeNet's two poolings).
    x: (N, 1, 28, 28) -> (N, 8, 7, 7), i.e. 392 features, about as many as LeNet's 400. Its convolution weights are frozen (``requires_grad=False``):
    an optimizer never changes them.
    """

    def __init__(self, kernels: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        kernels = kernels if kernels is not None else hand_made_kernels()
        weight = torch.stack(list(kernels.values()))[:, None]   # (K, 1, 3, 3)
        self.names = list(kernels)
        k = weight.shape[-1]
        self.conv = nn.Conv2d(1, len(weight), k, padding=k // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(weight)
        self.conv.weight.requires_grad_(False)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(4)   # = two 2x2 max pools in a row, in one pass

    def flat_features(self, input_size: int = 28) -> int:
        """Length of the flattened output for a square ``input_size`` image: K * (size // 4)**2."""
        side = pool2d_output_size(input_size, 4)
        return self.conv.out_channels * side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, H, W) -> (N, K, H // 4, W // 4) with K kernels."""
        return self.pool(self.act(self.conv(x)))

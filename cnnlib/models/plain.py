"""Deep stacks of 3x3 convolutions with and without shortcuts, and weight initialisation.

The experiments on depth use one family of networks whose only switches are the ones
being studied::

    x -> stem conv (stride) -> ReLU -> [block] * num_blocks -> global avg pool -> linear

each block being two 3x3 convolutions of ``width`` channels, optionally with
BatchNorm, and optionally with the identity shortcut ``out = relu(F(x) + x)``. With
``residual=False`` the network is a *plain* network of the same depth and the same
parameters. ``copies=S`` builds S independent networks side by side in one module
(grouped convolutions: no weight, BatchNorm statistic or gradient is shared), so that
S seeds of an experiment train in one pass; :func:`copies_loss` and
:func:`copies_accuracy` score each copy on its own. :func:`init_weights` re-initialises its convolution and linear weights with
one of the schemes compared in notebook 09 (too small, too large, Xavier, Kaiming).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate

INIT_SCHEMES = ("default", "normal", "xavier", "kaiming")


class TwoConvBlock(nn.Module):
    """conv3x3 -> [BN] -> ReLU -> conv3x3 -> [BN] (+ x if ``residual``) -> ReLU.

    (N, width, H, W) -> (N, width, H, W); the shortcut is always the identity.
    ``groups`` > 1: grouped convolutions, i.e. ``groups`` independent blocks of
    ``width // groups`` channels each (``width`` must be a multiple of ``groups``);
    ``residual`` may then be one flag per group (some groups plain, some residual).
    """

    def __init__(self, width: int, residual: bool | Sequence[bool] = True, batchnorm: bool = False,
                 groups: int = 1) -> None:
        super().__init__()
        width = _validate.positive_int("width", width)
        groups = _validate.positive_int("groups", groups)
        if width % groups:
            raise ValueError(f"width must be a multiple of groups, got width={width}, groups={groups}")
        if isinstance(residual, (list, tuple)):
            if len(residual) != groups or not all(isinstance(r, bool) for r in residual):
                raise ValueError(f"residual must be a bool or one bool per group ({groups}), got {residual!r}")
            mask = torch.tensor(residual, dtype=torch.float32).repeat_interleave(width // groups)
            self.register_buffer("residual_mask", mask.view(1, width, 1, 1), persistent=False)
            residual = any(residual)
        else:
            self.residual_mask = None
        self.residual = bool(residual)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=not batchnorm, groups=groups)
        self.bn1 = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=not batchnorm, groups=groups)
        self.bn2 = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.residual and self.residual_mask is not None:
            return self.relu(out + self.residual_mask * x)
        return self.relu(out + x if self.residual else out)


class DeepConvNet(nn.Module):
    """A stem, ``num_blocks`` :class:`TwoConvBlock` blocks, global average pooling, a linear head.

    x: (N, in_channels, H, W) -> logits (N, num_classes), or (N, copies, num_classes)
    when ``copies`` > 1. Weighted layers: ``2 * num_blocks + 2`` (stem, the block
    convolutions, the head).

    Args:
        num_blocks: number of two-convolution blocks.
        width: channels of every block (of every copy).
        residual: add the identity shortcut in every block (else a plain network); with
            ``copies`` > 1 also one flag per copy, e.g. ``(False,) * 3 + (True,) * 3``:
            three plain and three residual networks trained side by side.
        batchnorm: BatchNorm after each block convolution.
        stem_stride: stride (= kernel size when > 1) of the stem convolution, to work on
            smaller maps: 28x28 -> 7x7 with 4.
        copies: independent networks in one module (grouped convolutions and a grouped
            head); each copy has its own weights, BatchNorm statistics and gradients, so
            trained with :func:`copies_loss` each learns exactly as it would alone.
    """

    def __init__(self, num_blocks: int, width: int = 16, residual: bool | Sequence[bool] = True, batchnorm: bool = False,
                 in_channels: int = 1, num_classes: int = 10, stem_stride: int = 1, copies: int = 1) -> None:
        super().__init__()
        num_blocks = _validate.positive_int("num_blocks", num_blocks)
        width = _validate.positive_int("width", width)
        in_channels = _validate.positive_int("in_channels", in_channels)
        num_classes = _validate.positive_int("num_classes", num_classes)
        stem_stride = _validate.positive_int("stem_stride", stem_stride)
        self.copies = _validate.positive_int("copies", copies)
        self.num_classes = num_classes
        k = 3 if stem_stride == 1 else stem_stride
        total = width * self.copies   # one stem filter bank per copy: all of them read the same input
        self.stem = nn.Conv2d(in_channels, total, k, stride=stem_stride, padding=1 if stem_stride == 1 else 0)
        self.relu = nn.ReLU()
        self.blocks = nn.Sequential(*[TwoConvBlock(total, residual, batchnorm, groups=self.copies)
                                      for _ in range(num_blocks)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        if self.copies == 1:
            self.fc: nn.Module = nn.Linear(width, num_classes)
        else:   # one linear head per copy, as a grouped 1x1 convolution
            self.fc = nn.Conv1d(total, num_classes * self.copies, 1, groups=self.copies)

    @property
    def depth(self) -> int:
        """Weighted layers: stem + two per block + the linear head."""
        return 2 * len(self.blocks) + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.relu(self.stem(x)))
        if self.copies == 1:
            return self.fc(torch.flatten(self.pool(x), 1))
        out = self.fc(torch.flatten(self.pool(x), 2))            # (N, copies * classes, 1)
        return out.view(x.shape[0], self.copies, self.num_classes)


def copies_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over copies of each copy's mean cross-entropy.

    logits: (N, copies, num_classes), labels: (N,) -> scalar. The copies share no
    parameter, so each copy's gradient is that of its own loss.
    """
    _validate.tensor("logits", logits, "(N, copies, num_classes)")
    _validate.tensor("labels", labels, "(N,)")
    if logits.ndim != 3 or labels.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (N, copies, num_classes) and labels (N,), got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}")
    n, s, c = logits.shape
    return F.cross_entropy(logits.reshape(n * s, c), labels.repeat_interleave(s)) * s


@torch.no_grad()
def copies_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> list[float]:
    """Accuracy of each copy of a ``DeepConvNet(copies=S)`` in eval mode: S floats.

    x: (N, C, H, W) images, y: (N,) labels. The model is left in eval mode.
    """
    _validate.module("model", model)
    _validate.tensor("x", x, "(N, C, H, W)")
    _validate.tensor("y", y, "(N,)")
    batch_size = _validate.positive_int("batch_size", batch_size)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same non-zero number of items, got {len(x)} and {len(y)}")
    model.eval()
    device = next(model.parameters()).device
    correct = None
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size].to(device))
        if out.ndim == 2:
            out = out[:, None]
        hits = (out.argmax(-1) == y[i:i + batch_size].to(device)[:, None]).sum(0)
        correct = hits if correct is None else correct + hits
    return (correct.float() / len(x)).tolist()


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
    """Re-initialise every Conv2d, Conv1d and Linear weight of ``model`` in place; biases become 0.

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
        if not isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear)):
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

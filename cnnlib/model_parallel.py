"""Model parallelism as AlexNet did it: every layer's filters split over two devices.

:class:`TwoDeviceAlexNet` takes a :class:`cnnlib.models.alexnet.AlexNet` and gives each of
two devices ("GPU 0", "GPU 1") half of every layer's filters (convolutions) or units
(dense layers), with the same weights. A half-layer reads

- ``"image"``: the input image, which both devices hold (conv1): no communication;
- ``"own"``: only its own device's half of the previous layer (the ``groups=2``
  convolutions conv2, conv4, conv5): no communication;
- ``"both"``: both halves (conv3 and the dense layers): each device first sends its half
  of the activations to the other. These are the communication points; every forward
  pass records them in :attr:`TwoDeviceAlexNet.exchanges`.

At the end device 1 sends its half of the logits to device 0. With both devices set to
``"cpu"`` the split runs in one process and gives the same logits as the model it came
from (up to float rounding), except with LRN: the paper normalized each device's maps
separately, so at the boundary between the halves the split and ``nn.LocalResponseNorm``
over all channels differ.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from .models.alexnet import AlexNet


def _half_conv(conv: nn.Conv2d, h: int, own_input: bool) -> nn.Conv2d:
    out = conv.out_channels // 2
    cin = conv.in_channels // 2 if own_input else conv.in_channels
    half = nn.Conv2d(cin, out, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                     bias=conv.bias is not None, device=conv.weight.device)
    with torch.no_grad():
        half.weight.copy_(conv.weight[h * out:(h + 1) * out])
        if conv.bias is not None:
            half.bias.copy_(conv.bias[h * out:(h + 1) * out])
    return half


def _half_linear(lin: nn.Linear, h: int) -> nn.Linear:
    out = lin.out_features // 2
    half = nn.Linear(lin.in_features, out, bias=lin.bias is not None, device=lin.weight.device)
    with torch.no_grad():
        half.weight.copy_(lin.weight[h * out:(h + 1) * out])
        if lin.bias is not None:
            half.bias.copy_(lin.bias[h * out:(h + 1) * out])
    return half


class TwoDeviceAlexNet(nn.Module):
    """An :class:`AlexNet` split in two halves, one per device (the paper's two GPUs).

    x: (N, C_in, H, W) -> logits (N, num_classes) on ``devices[0]``.

    Args:
        model: an AlexNet without adaptive pooling (``avgpool`` the identity); every
            convolution and dense layer needs an even number of outputs, every
            convolution ``groups`` 1 or 2.
        devices: where the two halves live, e.g. ``("cuda:0", "cuda:1")``; ``("cpu", "cpu")``
            shows the split on one machine, ``("meta", "meta")`` only counts.

    Attributes:
        halves: two ``nn.ModuleList`` s, one layer list per device.
        names: ``conv1 ... conv5, fc6 ...``: the weight layers in order.
        reads: for each weight layer, ``"image"``, ``"own"`` or ``"both"`` (module docstring).
        exchanges: after a forward pass, ``(layer, values per image each device sends)`` for
            every layer that reads both halves, then ``("output", ...)`` for the logits.
    """

    def __init__(self, model: AlexNet, devices: Sequence[str | torch.device] = ("cpu", "cpu")) -> None:
        super().__init__()
        if not isinstance(model, AlexNet):
            raise TypeError(f"model must be a cnnlib AlexNet, got {type(model).__name__}")
        if not isinstance(model.avgpool, nn.Identity):
            raise ValueError("model must flatten its last feature map as it is (avgpool_size=None)")
        if len(devices) != 2:
            raise ValueError(f"devices must name two devices, got {list(devices)}")
        self.devices = tuple(torch.device(d) for d in devices)
        layers = list(model.features) + [nn.Flatten()] + list(model.classifier)
        halves: list[list[nn.Module]] = [[], []]
        self.names: list[str] = []
        self.reads: list[str] = []
        self._reads_at: list[str | None] = []
        n_conv = n_fc = 0
        for layer in layers:
            if isinstance(layer, nn.Conv2d):
                if layer.groups not in (1, 2) or layer.out_channels % 2:
                    raise ValueError(f"every Conv2d needs groups 1 or 2 and an even number of filters, got {layer}")
                n_conv += 1
                reads = "own" if layer.groups == 2 else ("image" if n_conv == 1 else "both")
                parts = [_half_conv(layer, h, own_input=layer.groups == 2) for h in (0, 1)]
                self.names.append(f"conv{n_conv}")
            elif isinstance(layer, nn.Linear):
                if layer.out_features % 2:
                    raise ValueError(f"every Linear needs an even number of outputs, got {layer}")
                n_fc += 1
                reads = "both"
                parts = [_half_linear(layer, h) for h in (0, 1)]
                self.names.append(f"fc{n_conv + n_fc}")
            else:   # ReLU, LRN, pooling, dropout, flatten: each device applies it to its own half
                reads = None
                parts = [copy.deepcopy(layer) for _ in (0, 1)]
            if reads is not None:
                self.reads.append(reads)
            self._reads_at.append(reads)
            for h in (0, 1):
                halves[h].append(parts[h])
        self.halves = nn.ModuleList([nn.ModuleList(halves[h]).to(self.devices[h]) for h in (0, 1)])
        self.exchanges: list[tuple[str, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, num_classes) on ``devices[0]``; records :attr:`exchanges`."""
        d0, d1 = self.devices
        h0, h1 = x.to(d0), x.to(d1)            # both devices hold the image
        self.exchanges = []
        names = iter(self.names)
        for l0, l1, reads in zip(self.halves[0], self.halves[1], self._reads_at):
            name = next(names) if reads is not None else None
            if reads == "both":               # communication: swap halves, then concatenate
                self.exchanges.append((name, h0[0].numel()))
                h0, h1 = torch.cat([h0, h1.to(d0)], dim=1), torch.cat([h0.to(d1), h1], dim=1)
            h0, h1 = l0(h0), l1(h1)
        self.exchanges.append(("output", h1[0].numel()))
        return torch.cat([h0, h1.to(d0)], dim=1)

"""Receptive fields of a chain of convolution and pooling layers.

For each layer output we track three numbers (per axis), in input-pixel units:

- ``size``  -- how many input pixels one output value depends on (its receptive field);
- ``jump``  -- the distance, in input pixels, between the receptive fields of two
  neighbouring output values (the product of all strides so far);
- ``start`` -- the centre of the receptive field of the first (top-left) output value,
  in input pixel coordinates (pixel ``i`` has centre ``i``; negative values and values
  past the border mean the field reaches into the padding).

A layer with kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` (effective
kernel ``k_eff = d*(k-1) + 1``) updates them as::

    size_out  = size_in + (k_eff - 1) * jump_in
    jump_out  = jump_in * s
    start_out = start_in + ((k_eff - 1)/2 - p) * jump_in

starting from the input itself: ``size = 1, jump = 1, start = 0``. The centre of the
field of output ``i`` (along one axis) is then ``start + i * jump``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple, Union

from .. import _validate

Number = Union[int, float]


class RF(NamedTuple):
    """Receptive field of one layer's output (see the module docstring).

    Each field is a number when it is the same along height and width (the usual square
    case) and an ``(height, width)`` pair otherwise.
    """

    size: Union[int, tuple[int, int]]
    jump: Union[int, tuple[int, int]]
    start: Union[Number, tuple[Number, Number]]


#: The receptive field of the input pixels themselves.
INPUT_RF = RF(1, 1, 0)

# Layers that act on each pixel separately (in eval mode): they keep the receptive field.
_POINTWISE_NAMES = frozenset({
    "Identity", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU",
    "SiLU", "Mish", "Sigmoid", "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus",
    "Softsign", "Tanhshrink", "Threshold", "LogSigmoid",
    "BatchNorm2d", "SyncBatchNorm", "Dropout", "Dropout2d", "AlphaDropout", "FeatureAlphaDropout",
    "LocalResponseNorm",   # mixes neighbouring *channels* of the same pixel
})


def is_pointwise(module: Any) -> bool:
    """True for layers that leave the receptive field unchanged (activations, eval-mode
    BatchNorm2d, dropout, LocalResponseNorm): each output pixel depends only on the same
    input pixel."""
    import torch.nn as nn

    return isinstance(module, nn.Module) and any(
        cls.__module__.startswith("torch.nn") and cls.__name__ in _POINTWISE_NAMES
        for cls in type(module).__mro__)


def _pad_of(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int], name: str) -> tuple[int, int]:
    """Left/top padding, also for nn.Conv2d's ``padding='same'`` / ``'valid'``."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":  # PyTorch pads floor(total/2) on the left/top, the rest right/bottom
        return tuple((d * (k - 1)) // 2 for k, d in zip(kernel, dilation))
    return _validate.pair(name, padding, _validate.nonneg_int)


def layer_geometry(layer: Any, name: str = "layer") -> tuple[tuple[int, int], ...]:
    """``(kernel_size, stride, padding, dilation)`` of a layer, each as an (h, w) pair.

    ``layer`` is a tuple ``(kernel_size, stride, padding)`` or ``(kernel_size, stride,
    padding, dilation)``, or an ``nn.Conv2d`` / ``nn.MaxPool2d`` / ``nn.AvgPool2d``, or a
    pointwise module (activation, BatchNorm2d, dropout), which acts like a 1x1 kernel.
    """
    import torch.nn as nn

    if isinstance(layer, (tuple, list)):
        if len(layer) not in (3, 4):
            raise ValueError(
                f"{name} must be (kernel_size, stride, padding) or (kernel_size, stride, padding, "
                f"dilation), got {layer!r}")
        kernel_size, stride, padding, *rest = layer
        dilation = rest[0] if rest else 1
    elif isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        kernel_size, stride, padding = layer.kernel_size, layer.stride, layer.padding
        dilation = getattr(layer, "dilation", 1)  # AvgPool2d has no dilation
    elif is_pointwise(layer):
        return ((1, 1), (1, 1), (0, 0), (1, 1))
    else:
        raise TypeError(
            f"{name} must be a (kernel_size, stride, padding[, dilation]) tuple, an nn.Conv2d, "
            f"nn.MaxPool2d, nn.AvgPool2d or a pointwise layer (activation, BatchNorm2d, "
            f"dropout), got {type(layer).__name__}")
    k = _validate.pair(f"{name} kernel_size", kernel_size)
    s = _validate.pair(f"{name} stride", stride)
    d = _validate.pair(f"{name} dilation", dilation)
    p = _pad_of(padding, k, d, f"{name} padding")
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        for a in range(2):  # PyTorch refuses these geometries when the layer runs
            if p[a] > k[a] // 2:
                raise ValueError(
                    f"{name} padding must be at most half of kernel_size, as "
                    f"PyTorch requires for {type(layer).__name__}: got padding={padding} and "
                    f"kernel_size={kernel_size}")
    return (k, s, p, d)


def _tidy(value: Number) -> Number:
    return int(value) if float(value).is_integer() else float(value)


def _collapse(h: Number, w: Number) -> Union[Number, tuple[Number, Number]]:
    return _tidy(h) if h == w else (_tidy(h), _tidy(w))


def _axes(rf: RF) -> list[tuple[Number, Number, Number]]:
    """Split an RF into per-axis (size, jump, start) triples."""
    fields = [v if isinstance(v, tuple) else (v, v) for v in rf]
    return [(fields[0][a], fields[1][a], fields[2][a]) for a in range(2)]


def next_rf(rf: RF, geometry: tuple[tuple[int, int], ...]) -> RF:
    """Receptive field after one more layer with the given ``layer_geometry``."""
    if not isinstance(rf, RF):
        raise TypeError(f"rf must be an RF(size, jump, start), got {type(rf).__name__}")
    if not (isinstance(geometry, (tuple, list)) and len(geometry) == 4):
        raise TypeError(f"geometry must be (kernel, stride, padding, dilation) pairs from layer_geometry, got {geometry!r}")
    k, s, p, d = geometry
    out = []
    for a, (size, jump, start) in enumerate(_axes(rf)):
        k_eff = d[a] * (k[a] - 1) + 1
        out.append((size + (k_eff - 1) * jump,
                    jump * s[a],
                    start + ((k_eff - 1) / 2 - p[a]) * jump))
    (sh, jh, st_h), (sw, jw, st_w) = out
    return RF(_collapse(sh, sw), _collapse(jh, jw), _collapse(st_h, st_w))


def receptive_field(layers: Iterable[Any]) -> list[RF]:
    """Receptive field (``RF(size, jump, start)``) of the output of each layer in a chain.

    ``layers`` is a sequence of ``(kernel_size, stride, padding[, dilation])`` tuples
    and/or ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` modules, applied one after
    the other; an ``nn.Sequential`` such as ``torchvision.models.vgg16().features`` works
    directly (its activations, BatchNorm2d and dropout layers keep the field unchanged,
    so they get an entry equal to the previous one). Every entry may be an ``int`` or an
    ``(h, w)`` pair; the fields of ``RF`` are plain numbers for square layers and pairs
    when height and width differ.

    Formulas, per axis, with ``k_eff = dilation*(kernel_size-1) + 1``::

        size_out  = size_in + (k_eff - 1) * jump_in
        jump_out  = jump_in * stride
        start_out = start_in + ((k_eff - 1)/2 - padding) * jump_in

    from ``size = 1, jump = 1, start = 0`` for the input. ``start`` is the centre of the
    first output's field in input pixel coordinates. Padding and ``ceil_mode`` do not
    change the size, only where the fields sit.

    >>> [rf.size for rf in receptive_field([(3, 1, 1)] * 3)]   # VGG: 3 stacked 3x3 = 7x7
    [3, 5, 7]
    >>> receptive_field([(11, 4, 2), (3, 2, 0)])               # AlexNet conv1, pool1
    [RF(size=11, jump=4, start=3), RF(size=19, jump=8, start=7)]
    """
    import torch.nn as nn

    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential):
        layers = [layers]
    if not isinstance(layers, nn.Module):
        layers = _validate.iterable("layers", layers, "a sequence of layers or (kernel_size, stride, padding) tuples")
    rf = INPUT_RF
    result = []
    for i, layer in enumerate(layers):
        rf = next_rf(rf, layer_geometry(layer, f"layers[{i}]"))
        result.append(rf)
    return result

"""Parameter counts and multiply-add (MAC) counts of the common layers."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _validate
from .sizes import Size

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def _check_bool(name: str, value: object) -> bool:
    return _validate.flag(name, value)  # bools, NumPy bools, 0 and 1: what PyTorch's flags take


def _check_groups(in_channels: int, out_channels: int, groups: object) -> int:
    groups = _validate.positive_int("groups", groups)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups must divide both in_channels and out_channels, got groups={groups} "
            f"with in_channels={in_channels} and out_channels={out_channels}")
    return groups


def conv2d_params(
    in_channels: int,
    out_channels: int,
    kernel_size: Size,
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Number of learnable parameters of ``nn.Conv2d``::

        params = (C_in/groups) * kH * kW * C_out  +  C_out
                 `------------ weight -----------'    `bias'

    Each of the ``C_out`` filters has one ``kH x kW`` slice per input channel it sees
    (``C_in/groups`` of them) and one bias. The weight tensor has shape
    ``(C_out, C_in/groups, kH, kW)``.

    >>> conv2d_params(1, 32, 3)                 # 32 filters of 3x3 on a grey image
    320
    >>> conv2d_params(128, 64, 3, bias=False)   # 3*3*128*64
    73728
    """
    in_channels = _validate.positive_int("in_channels", in_channels)
    out_channels = _validate.positive_int("out_channels", out_channels)
    kh, kw = _validate.pair("kernel_size", kernel_size)
    groups = _check_groups(in_channels, out_channels, groups)
    bias = _check_bool("bias", bias)
    return (in_channels // groups) * kh * kw * out_channels + (out_channels if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Number of learnable parameters of ``nn.Linear``::

        params = in_features * out_features + out_features

    (a weight matrix of shape ``(out_features, in_features)`` and one bias per output).

    >>> linear_params(9216, 4096)               # AlexNet's first fully connected layer
    37752832
    """
    in_features = _validate.positive_int("in_features", in_features)
    out_features = _validate.positive_int("out_features", out_features)
    bias = _check_bool("bias", bias)
    return in_features * out_features + (out_features if bias else 0)


def batchnorm2d_params(num_features: int, affine: bool = True) -> int:
    """Number of learnable parameters of ``nn.BatchNorm2d``::

        params = 2 * C        (a scale gamma = .weight and a shift beta = .bias per channel)

    ``running_mean`` and ``running_var`` (C values each) and ``num_batches_tracked`` are
    *buffers*, not parameters: they are stored in the ``state_dict`` and updated during
    training by averaging, but not learned by the optimizer, so they are not counted
    here (nor by ``count_params``). With ``affine=False`` there is nothing to learn.

    >>> batchnorm2d_params(64)
    128
    """
    num_features = _validate.positive_int("num_features", num_features)
    affine = _check_bool("affine", affine)
    return 2 * num_features if affine else 0


def conv2d_macs(
    in_channels: int,
    out_channels: int,
    kernel_size: Size,
    output_size: Size,
    groups: int = 1,
) -> int:
    """Multiply-adds (MACs) of ``nn.Conv2d`` for one image::

        MACs = (C_in/groups) * kH * kW  *  C_out * H_out * W_out
               `- per output value -'     `-- output values --'

    Every output value is a dot product of one filter (``(C_in/groups)*kH*kW`` weights)
    with an input patch. The bias additions are not counted (the usual convention, and
    the one behind torchvision's "GFLOPS" figures, which are really multiply-adds).
    Multiply by the batch size for a batch; one MAC is often counted as 2 FLOPs.

    >>> conv2d_macs(3, 64, 11, 55)              # AlexNet conv1: about 70 million
    70276800
    """
    in_channels = _validate.positive_int("in_channels", in_channels)
    out_channels = _validate.positive_int("out_channels", out_channels)
    kh, kw = _validate.pair("kernel_size", kernel_size)
    oh, ow = _validate.pair("output_size", output_size)
    groups = _check_groups(in_channels, out_channels, groups)
    return (in_channels // groups) * kh * kw * out_channels * oh * ow


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Total number of parameters of ``model`` (each shared parameter counted once).

    With ``trainable_only=True`` only parameters with ``requires_grad=True`` (the ones an
    optimizer would update) are counted. Buffers such as BatchNorm's running statistics
    are never counted. Works on the ``meta`` device too (no memory needed).
    """
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    trainable_only = _check_bool("trainable_only", trainable_only)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

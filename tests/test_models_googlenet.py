"""cnnlib.models.googlenet: Inception blocks, GoogLeNet (paper and torchvision), NiN, the
small GoogLeNet. Full-size models are built on the meta device."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from cnnlib.models.googlenet import (
    INCEPTION_CONFIGS,
    Inception,
    InceptionAux,
    NaiveInception,
    conv_unit,
    googlenet,
    nin,
    nin_block,
    small_googlenet,
)
from cnnlib.shapes import count_params, summary


def _weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_torchvision_variant_is_torchvision_googlenet():
    with torch.device("meta"):
        ours = googlenet("torchvision")
        theirs = torchvision.models.googlenet(aux_logits=False, init_weights=False)
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert count_params(ours) == count_params(theirs) == 6_624_904
    assert summary(ours, (1, 3, 224, 224)).total_macs == summary(theirs, (1, 3, 224, 224)).total_macs


def test_paper_googlenet_sizes_and_counts():
    with torch.device("meta"):
        model = googlenet("paper")
    assert count_params(model) == 6_998_552
    assert count_params(model) - count_params(model.fc) == 5_973_552
    s = summary(model, (1, 3, 224, 224))
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["maxpool1"] == (1, 64, 56, 56)
    assert shapes["maxpool2"] == (1, 192, 28, 28)
    assert shapes["maxpool3"] == (1, 480, 14, 14)
    assert shapes["maxpool4"] == (1, 832, 7, 7)
    assert shapes["fc"] == (1, 1000)
    assert len([m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]) == 2


def test_inception_3a_branches_and_reductions():
    block = Inception(*INCEPTION_CONFIGS["3a"])
    assert block.out_channels == 64 + 128 + 32 + 32 == 256
    assert block(torch.rand(2, 192, 7, 7)).shape == (2, 256, 7, 7)
    assert _weights(block) == 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32 == 163_328
    naive = NaiveInception(192, 64, 128, 32)
    assert naive.out_channels == 64 + 128 + 32 + 192
    assert naive(torch.rand(1, 192, 5, 5)).shape == (1, 416, 5, 5)
    assert _weights(naive) == 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32 == 387_072


def test_inception_batch_norm_units_and_k5():
    block = Inception(16, 4, (4, 8), (2, 4), 4, batch_norm=True, k5=3)
    assert len([m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]) == 6
    assert all(c.bias is None for c in block.modules() if isinstance(c, nn.Conv2d))
    assert block.branch3[1][0].kernel_size == (3, 3)
    block.eval()
    assert block(torch.rand(2, 16, 6, 6)).shape == (2, 20, 6, 6)
    with pytest.raises(ValueError, match="odd"):
        Inception(16, 4, (4, 8), (2, 4), 4, k5=4)
    unit = conv_unit(3, 5, 3, padding=1)
    assert [type(m) for m in unit] == [nn.Conv2d, nn.ReLU]


def test_aux_classifier():
    aux = InceptionAux(512)
    assert count_params(aux) == (512 * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000) == 3_188_840
    aux.eval()
    assert aux(torch.rand(2, 512, 14, 14)).shape == (2, 1000)


def test_nin_has_no_dense_layer():
    block = nin_block(3, 8, 3, padding=1)
    assert [m.kernel_size for m in block if isinstance(m, nn.Conv2d)] == [(3, 3), (1, 1), (1, 1)]
    assert block(torch.rand(1, 3, 9, 9)).shape == (1, 8, 9, 9)
    with torch.device("meta"):
        model = nin()
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    assert count_params(model) == 7_439_608
    assert summary(model, (1, 3, 224, 224)).rows[-1].output_shape == (1, 1000)


def test_small_googlenet_forward_and_gradients():
    torch.manual_seed(0)
    model = small_googlenet()
    out = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    out.sum().backward()
    assert model.stem[0].weight.grad.abs().sum() > 0
    assert count_params(model) == 66_386
    cl = small_googlenet().to(memory_format=torch.channels_last)
    assert cl(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_googlenet_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant"):
        googlenet("inception-v3")
    with pytest.raises(ValueError, match="num_classes"):
        small_googlenet(num_classes=0)

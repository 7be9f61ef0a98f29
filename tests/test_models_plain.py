"""cnnlib.models.plain: deep plain/residual stacks and weight initialisation."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnlib.models.plain import DeepConvNet, TwoConvBlock, init_std, init_weights, plain_stack


def test_deep_conv_net_shapes_depth_and_same_parameters():
    plain, res = DeepConvNet(3, 8, residual=False, stem_stride=4), DeepConvNet(3, 8, residual=True, stem_stride=4)
    assert plain.depth == res.depth == 8
    assert plain.state_dict().keys() == res.state_dict().keys()
    x = torch.randn(2, 1, 28, 28)
    assert plain(x).shape == res(x).shape == (2, 10)
    assert DeepConvNet(1, 4, batchnorm=True)(x).shape == (2, 10)


def test_two_conv_block_residual_adds_input():
    torch.manual_seed(0)
    b = TwoConvBlock(4, residual=True)
    for p in b.conv2.parameters():
        nn.init.zeros_(p)
    x = torch.rand(1, 4, 5, 5)
    torch.testing.assert_close(b(x), x)          # F = 0: the identity
    b.residual = False
    assert torch.equal(b(x), torch.zeros_like(x))


def test_init_weights_scales():
    torch.manual_seed(0)
    net = plain_stack(3, width=64)
    init_weights(net, "kaiming")
    w = net[2].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)
    assert torch.equal(net[2].bias, torch.zeros(64))
    init_weights(net, "xavier")
    assert net[2].weight.std().item() == pytest.approx(init_std("xavier", 576, 576), rel=0.05)
    init_weights(net, "normal", std=0.01)
    assert net[2].weight.std().item() == pytest.approx(0.01, rel=0.05)
    init_weights(net, "default")
    assert net[2].weight.abs().max().item() <= 1 / math.sqrt(576) + 1e-6
    init_weights(nn.Sequential(nn.Linear(3, 2, bias=False), nn.ReLU()), "kaiming")


def test_init_errors():
    net = plain_stack(1)
    with pytest.raises(ValueError, match="scheme"):
        init_weights(net, "orthogonal")
    with pytest.raises(ValueError, match="positive std"):
        init_weights(net, "normal")
    with pytest.raises(ValueError, match="only used"):
        init_weights(net, "kaiming", std=0.1)
    assert init_std("kaiming", 288, 288) == pytest.approx(math.sqrt(2 / 288))
    with pytest.raises(ValueError):
        init_std("normal", 1, 1)

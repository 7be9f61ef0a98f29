"""cnnlib.models.plain: deep plain/residual stacks and weight initialisation."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnlib.models.plain import (
    DeepConvNet, TwoConvBlock, copies_accuracy, copies_loss, init_std, init_weights, plain_stack,
)


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


def _copy_out(grouped: DeepConvNet, i: int, residual: bool, width: int) -> DeepConvNet:
    """Copy i of a grouped DeepConvNet as a stand-alone network with the same weights."""
    single = DeepConvNet(len(grouped.blocks), width, residual=residual, batchnorm=True)
    sl = slice(i * width, (i + 1) * width)
    with torch.no_grad():
        single.stem.weight.copy_(grouped.stem.weight[sl])
        single.stem.bias.copy_(grouped.stem.bias[sl])
        for b_s, b_g in zip(single.blocks, grouped.blocks):
            for name in ("conv1", "conv2"):
                getattr(b_s, name).weight.copy_(getattr(b_g, name).weight[sl])
            for name in ("bn1", "bn2"):
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(getattr(b_s, name), attr).copy_(getattr(getattr(b_g, name), attr)[sl])
        c = single.fc.out_features
        single.fc.weight.copy_(grouped.fc.weight[i * c:(i + 1) * c, :, 0])
        single.fc.bias.copy_(grouped.fc.bias[i * c:(i + 1) * c])
    return single


def test_copies_are_independent_networks():
    torch.manual_seed(0)
    kinds = (False, True, True)
    grouped = init_weights(DeepConvNet(2, 4, residual=kinds, batchnorm=True, stem_stride=1, copies=3), "kaiming")
    x, y = torch.randn(5, 1, 9, 9), torch.randint(0, 10, (5,))
    out = grouped(x)
    assert out.shape == (5, 3, 10)
    copies_loss(out, y).backward()
    for i, r in enumerate(kinds):
        single = _copy_out(grouped, i, r, 4)
        o = single(x)
        torch.testing.assert_close(out[:, i].detach(), o.detach(), rtol=1e-5, atol=1e-5)   # train mode: batch stats
        torch.nn.functional.cross_entropy(o, y).backward()
        torch.testing.assert_close(single.blocks[0].conv1.weight.grad, grouped.blocks[0].conv1.weight.grad[i * 4:(i + 1) * 4],
                                   rtol=1e-4, atol=1e-6)   # each copy gets the gradient of its own loss
    accs = copies_accuracy(grouped, x, y, batch_size=2)
    assert len(accs) == 3 and all(0 <= a <= 1 for a in accs)
    expected = (grouped(x).argmax(-1) == y[:, None]).float().mean(0).tolist()
    assert accs == pytest.approx(expected)


def test_copies_errors():
    with pytest.raises(ValueError, match="one bool per group"):
        DeepConvNet(1, 4, residual=(True,), copies=2)
    with pytest.raises(ValueError, match="multiple of groups"):
        TwoConvBlock(5, groups=2)
    with pytest.raises(ValueError, match="copies"):
        copies_loss(torch.randn(3, 10), torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="model"):
        copies_accuracy("net", torch.randn(1, 1, 8, 8), torch.zeros(1, dtype=torch.long))

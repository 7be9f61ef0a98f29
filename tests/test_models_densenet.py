"""cnnlib.models.densenet: channel growth, transitions, DenseNet-121 vs torchvision."""
from __future__ import annotations

import pytest
import torch
import torchvision

from cnnlib.models.densenet import DenseBlock, DenseLayer, DenseNet, Transition, dense_channels, densenet121, small_densenet
from cnnlib.shapes import summary


def test_densenet121_matches_torchvision_on_meta():
    with torch.device("meta"):
        ours, theirs = densenet121(), torchvision.models.densenet121()
    s_ours, s_theirs = summary(ours, (1, 3, 224, 224)), summary(theirs, (1, 3, 224, 224))
    assert s_ours.total_params == s_theirs.total_params == 7_978_856
    assert s_ours.total_macs == s_theirs.total_macs
    assert abs(s_ours.total_macs - 2.83e9) / 2.83e9 < 0.005
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_densenet121_computes_what_torchvision_computes():
    torch.manual_seed(0)
    theirs = torchvision.models.densenet121().eval()
    ours = densenet121().eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_channels_grow_linearly_in_a_block():
    block = DenseBlock(5, 16, growth_rate=12)
    for i, layer in enumerate(block.children()):
        assert layer.norm1.num_features == 16 + i * 12
        assert layer.conv2.out_channels == 12
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 16 + 5 * 12, 8, 8)
    assert block.out_channels == 76


def test_transition_compresses_and_halves():
    t = Transition(76, 38)
    assert [type(m).__name__ for m in t] == ["BatchNorm2d", "ReLU", "Conv2d", "AvgPool2d"]
    assert t(torch.randn(2, 76, 7, 7)).shape == (2, 38, 3, 3)


def test_dense_layer_without_bottleneck_and_dropout():
    layer = DenseLayer(8, 4, bn_size=None, drop_rate=0.5)
    assert not layer.bottleneck and layer.conv1.kernel_size == (3, 3)
    layer.train()
    assert layer(torch.randn(2, 8, 5, 5)).shape == (2, 4, 5, 5)


def test_dense_channels_trace():
    assert dense_channels(64, (6, 12, 24, 16), 32) == [
        ("stem", 64), ("block1", 256), ("transition1", 128), ("block2", 512), ("transition2", 256),
        ("block3", 1024), ("transition3", 512), ("block4", 1024)]
    with pytest.raises(ValueError, match="compression"):
        dense_channels(8, (2,), 4, compression=0)


def test_small_densenet_trains_a_step():
    torch.manual_seed(0)
    m = small_densenet(growth_rate=4, block_config=(2, 2), num_init_features=8, stem_stride=2)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    out = m(x)
    assert out.shape == (4, 10)
    torch.nn.functional.cross_entropy(out, y).backward()
    assert all(p.grad is not None for p in m.parameters())
    assert m.out_channels == dense_channels(8, (2, 2), 4)[-1][1] == 16
    assert small_densenet().out_channels == 90


def test_densenet_argument_errors():
    with pytest.raises(ValueError, match="stem"):
        DenseNet(stem="tiny")
    with pytest.raises(ValueError, match="block_config"):
        DenseNet(block_config=())

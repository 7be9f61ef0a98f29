"""cnnlib.models.resnet: residual blocks, the paper's networks vs torchvision, small models."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from cnnlib.models.resnet import (
    BasicBlock, Bottleneck, PlainBlock, ResNet, make_stage, num_conv_layers, projection,
    resnet18, resnet34, resnet50, small_resnet,
)
from cnnlib.shapes import count_params, summary

# published figures: torchvision's model cards (params; "GFLOPS" = multiply-adds at 224x224)
PAPER = {
    "resnet18": (resnet18, 11_689_512, 1.81e9),
    "resnet34": (resnet34, 21_797_672, 3.66e9),
    "resnet50": (resnet50, 25_557_032, 4.09e9),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_networks_match_torchvision_on_meta(name):
    build, params, macs = PAPER[name]
    with torch.device("meta"):
        ours, theirs = build(), getattr(torchvision.models, name)()
    s_ours, s_theirs = summary(ours, (1, 3, 224, 224)), summary(theirs, (1, 3, 224, 224))
    assert s_ours.total_params == s_theirs.total_params == params
    assert s_ours.total_macs == s_theirs.total_macs
    assert abs(s_ours.total_macs - macs) / macs < 0.005
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_resnet18_computes_what_torchvision_computes():
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18().eval()
    ours = resnet18().eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_basic_block_shapes_and_projection():
    x = torch.randn(2, 16, 28, 28)
    same = BasicBlock(16, 16)
    assert same.downsample is None and same(x).shape == (2, 16, 28, 28)
    down = BasicBlock(16, 32, stride=2)
    conv = down.downsample[0]
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.out_channels == 32
    assert down(x).shape == (2, 32, 14, 14)
    assert projection(16, 32, 1) is not None and projection(16, 16, 1) is None


def test_zero_init_residual_block_is_identity():
    torch.manual_seed(0)
    block = BasicBlock(8, 8, zero_init_residual=True).eval()
    x = torch.rand(3, 8, 10, 10)          # >= 0, as after a ReLU
    with torch.no_grad():
        assert torch.equal(block.residual(x), torch.zeros_like(x))
        torch.testing.assert_close(block(x), x)
    b = Bottleneck(32, 8, zero_init_residual=True).eval()
    with torch.no_grad():
        y = torch.rand(1, 32, 6, 6)
        torch.testing.assert_close(b(y), y)


def test_bottleneck_and_plain_block():
    b = Bottleneck(64, 16, stride=2)
    assert b(torch.randn(1, 64, 8, 8)).shape == (1, 64, 4, 4)
    assert b.shortcut(torch.randn(1, 64, 8, 8)).shape == (1, 64, 4, 4)
    p = PlainBlock(8, 16, stride=2)
    assert p.downsample is None and p(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)
    stage = make_stage(BasicBlock, 8, 16, 3, stride=2)
    assert len(stage) == 3 and stage(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)


def test_small_resnet_shapes_params_and_gradients():
    torch.manual_seed(0)
    m = small_resnet()
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    out = m(x)
    assert out.shape == (4, 10)
    s = summary(m, (1, 1, 28, 28))
    assert s.total_params == 77_754
    nn.functional.cross_entropy(out, y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    assert small_resnet(strides=(2, 2, 2))(x).shape == (4, 10)
    assert num_conv_layers(m) == 1 + 2 * 3 + 2          # stem, 3 blocks, 2 projections
    assert num_conv_layers(small_resnet(block="plain")) == 7
    assert small_resnet(block="bottleneck", widths=(8, 16), layers=(1, 1))(x).shape == (4, 10)


def test_small_resnet_stem_stride_halves_the_image_in_the_stem():
    torch.manual_seed(0)
    m = small_resnet(stem_stride=2)
    s = summary(m, (1, 1, 28, 28))
    assert s.rows[0].output_shape == (1, 16, 14, 14)
    assert s.total_params == count_params(small_resnet())        # a stride changes no weight shape
    assert m.layer1[0].downsample is None                       # stage 1 keeps 14x14: identity shortcut
    assert m.layer3(m.layer2(m.layer1(torch.zeros(1, 16, 14, 14)))).shape == (1, 64, 4, 4)


def test_resnet_argument_errors():
    with pytest.raises(ValueError, match="same non-zero length"):
        ResNet(BasicBlock, (1, 1), (8,))
    with pytest.raises(ValueError, match="stem"):
        ResNet(BasicBlock, (1,), (8,), stem="tiny")
    with pytest.raises(ValueError, match="stem_stride"):
        ResNet(BasicBlock, (1,), (8,), stem_stride=2)             # the ImageNet stem has its own stride
    with pytest.raises(ValueError, match="stem_stride"):
        small_resnet(stem_stride=0)
    with pytest.raises(ValueError, match="strides"):
        ResNet(BasicBlock, (1, 1), (8, 8), strides=(1,))
    with pytest.raises(ValueError, match="block"):
        small_resnet(block="dense")
    with pytest.raises(ValueError):
        BasicBlock(0, 8)

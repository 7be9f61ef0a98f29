"""cnnlib.models.vgg: VGG16/19 against torchvision (meta device), blocks, the small VGG."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from cnnlib.models.vgg import VGG, VGG_CONFIGS, depth, small_vgg, vgg16, vgg19, vgg_block
from cnnlib.shapes import count_params, receptive_field, summary


@pytest.mark.parametrize("ours,theirs,params", [
    (vgg16, torchvision.models.vgg16, 138_357_544),
    (vgg19, torchvision.models.vgg19, 143_667_240),
])
def test_vgg_matches_torchvision(ours, theirs, params):
    with torch.device("meta"):
        a, b = ours(), theirs()
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    assert count_params(a) == count_params(b) == params
    sa, sb = summary(a, (1, 3, 224, 224)), summary(b, (1, 3, 224, 224))
    assert sa.total_macs == sb.total_macs
    assert sa.rows[-1].output_shape == (1, 1000)


def test_configs_and_depths():
    assert {name: depth(cfg) for name, cfg in VGG_CONFIGS.items()} == {"vgg11": 11, "vgg13": 13, "vgg16": 16, "vgg19": 19}
    for cfg in VGG_CONFIGS.values():
        convs = [c for _, c in cfg]
        assert convs == [64, 128, 256, 512, 512]


def test_vgg_block_keeps_size_then_halves():
    block = vgg_block(3, 8, 16)
    convs = [m for m in block if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (1, 1) for c in convs)
    assert block(torch.rand(2, 8, 10, 10)).shape == (2, 16, 5, 5)
    # three stacked 3x3 convolutions see 7x7, then the pooling 8x8
    assert [rf.size for rf in receptive_field([m for m in block if not isinstance(m, nn.ReLU)])] == [3, 5, 7, 8]


def test_small_vgg_forward_and_gradients():
    torch.manual_seed(0)
    model = small_vgg()
    out = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    out.sum().backward()
    assert model.features[0][0].weight.grad.abs().sum() > 0
    assert count_params(model) == 276_298
    assert model.flat_features == 64 * 3 * 3


def test_vgg_validates_config_and_size():
    with pytest.raises(ValueError, match="at least one"):
        VGG(())
    with pytest.raises(ValueError, match="too small"):
        VGG(VGG_CONFIGS["vgg11"], input_size=16, avgpool_size=None)
    with pytest.raises(ValueError, match="num_convs"):
        vgg_block(0, 3, 8)

"""cnnlib.models.alexnet: the paper's and torchvision's AlexNet (built on the meta device,
checked against the paper's arithmetic and torchvision's definition), the small AlexNet,
LRN with the paper's constants, grouped convolutions, initialization and augmentation."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from cnnlib.models.alexnet import (
    PAPER_STAGES,
    AlexNet,
    ConvStage,
    RandomCropFlip,
    alexnet,
    feature_size,
    init_weights,
    paper_lrn,
    small_alexnet,
)
from cnnlib.shapes import count_params, summary


def _layers(model: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


def test_paper_alexnet_matches_the_paper_arithmetic():
    with torch.device("meta"):
        model = alexnet("paper")
    convs, dense = _layers(model, nn.Conv2d), _layers(model, nn.Linear)
    # the notes' per-GPU products (with 256 = 128 * 2 for conv3's input), weights only
    assert [c.weight.numel() for c in convs] == [
        11 * 11 * 3 * 48 * 2, 5 * 5 * 48 * 128 * 2, 3 * 3 * 128 * 2 * 192 * 2, 3 * 3 * 192 * 192 * 2, 3 * 3 * 192 * 128 * 2]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    # dense layers: the first sees 6x6x256 after the last pooling (not 13x13x256)
    assert [d.weight.numel() for d in dense] == [6 * 6 * 256 * 4096, 4096 * 4096, 4096 * 1000]
    assert count_params(model) == 60_965_224
    s = summary(model, (1, 3, 227, 227))
    assert s.rows[-1].output_shape == (1, 1000)
    assert s.total_macs == 724_406_816


def test_paper_alexnet_needs_227_pixels():
    assert feature_size(PAPER_STAGES, 227) == 6
    assert feature_size(PAPER_STAGES, 224) == 5       # (224 - 11) // 4 + 1 = 54, not 55


def test_torchvision_variant_is_torchvision_alexnet():
    with torch.device("meta"):
        ours, theirs = alexnet("torchvision"), torchvision.models.alexnet()
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in theirs.named_parameters()]
    ours.load_state_dict(theirs.state_dict(), assign=True)   # strict: same names and shapes
    assert count_params(ours) == 61_100_840
    assert summary(ours, (1, 3, 224, 224)).total_macs == summary(theirs, (1, 3, 224, 224)).total_macs


def test_alexnet_rejects_unknown_variant_and_activation():
    with pytest.raises(ValueError, match="variant"):
        alexnet("caffe")
    with pytest.raises(ValueError, match="activation"):
        small_alexnet(activation="swish")


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_small_alexnet_forward_and_gradients(activation):
    torch.manual_seed(0)
    model = small_alexnet(activation=activation)
    out = model(torch.rand(4, 1, 28, 28))
    assert out.shape == (4, 10)
    out.sum().backward()
    first = model.features[0]
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0
    assert count_params(model) == 139_466


def test_small_alexnet_with_lrn_and_avgpool_variant():
    model = small_alexnet(lrn=True)
    assert len(_layers(model, nn.LocalResponseNorm)) == 2
    assert count_params(model) == 139_466             # LRN has no parameters
    pooled = AlexNet((ConvStage(8, 3, padding=1, pool=True),), in_channels=1, num_classes=3, hidden=16, avgpool_size=2)
    assert pooled(torch.rand(2, 1, 20, 20)).shape == (2, 3)
    assert pooled.flat_features == 8 * 2 * 2


def test_paper_lrn_follows_the_papers_formula():
    torch.manual_seed(0)
    a = torch.randn(2, 7, 3, 3) * 10
    n, k, alpha, beta = 5, 2.0, 1e-4, 0.75
    sq = torch.nn.functional.pad(a ** 2, (0, 0, 0, 0, n // 2, n // 2))   # pad the channel axis
    sums = torch.stack([sq[:, c:c + n].sum(1) for c in range(a.shape[1])], dim=1)
    expected = a / (k + alpha * sums) ** beta
    torch.testing.assert_close(paper_lrn()(a), expected, rtol=1e-5, atol=1e-6)


def test_grouped_convolution_is_two_separate_convolutions():
    torch.manual_seed(0)
    grouped = nn.Conv2d(8, 6, 3, groups=2)
    full = nn.Conv2d(8, 6, 3)
    assert grouped.weight.numel() * 2 == full.weight.numel() == 8 * 9 * 6   # the weights halve
    x = torch.randn(2, 8, 5, 5)
    top, bottom = nn.Conv2d(4, 3, 3), nn.Conv2d(4, 3, 3)
    with torch.no_grad():
        top.weight.copy_(grouped.weight[:3]); top.bias.copy_(grouped.bias[:3])
        bottom.weight.copy_(grouped.weight[3:]); bottom.bias.copy_(grouped.bias[3:])
    torch.testing.assert_close(grouped(x), torch.cat([top(x[:, :4]), bottom(x[:, 4:])], dim=1))


@pytest.mark.parametrize("activation,gain", [("relu", 2 ** 0.5), ("tanh", 5 / 3), ("sigmoid", 1.0)])
def test_init_weights_scales_by_fan_in(activation, gain):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 128, 3), nn.Linear(400, 300))
    assert init_weights(model, activation) is model
    conv, lin = model
    assert conv.weight.std().item() == pytest.approx(gain / (64 * 9) ** 0.5, rel=0.03)
    assert lin.weight.std().item() == pytest.approx(gain / 400 ** 0.5, rel=0.03)
    assert conv.bias.abs().sum() == 0 and lin.bias.abs().sum() == 0


def test_random_crop_flip_shifts_and_mirrors():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    assert torch.equal(RandomCropFlip(pad=0, flip_p=0.0)(x), x)
    assert torch.equal(RandomCropFlip(pad=0, flip_p=1.0)(x), x.flip(-1))
    aug = RandomCropFlip(pad=2, flip_p=0.5)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    out = aug(x, g1)
    assert out.shape == x.shape and torch.equal(out, aug(x, g2))     # reproducible
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):   # each image is some crop of the padded image, maybe mirrored
        crops = [padded[i, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in crops)


def test_random_crop_flip_validates():
    with pytest.raises(ValueError, match="flip_p"):
        RandomCropFlip(flip_p=1.5)
    with pytest.raises(ValueError, match="pad"):
        RandomCropFlip(pad=-1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        RandomCropFlip()(torch.zeros(6, 6))

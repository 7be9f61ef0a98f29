"""cnnlib.models.lenet: shapes, parameter counts, gradients, the frozen hand-made extractor."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.models.lenet import (
    HandMadeFeatures,
    LeNet,
    hand_made_kernels,
    lenet_classifier,
    lenet_feature_size,
)
from cnnlib import kernels
from cnnlib.shapes import conv2d_params, count_params, linear_params


def test_lenet_shapes_mnist():
    model = LeNet()
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    feats = model.features(x)
    assert feats.shape == (3, 16, 5, 5)
    assert model.flat_features == 400
    shapes = []
    h = x
    for layer in model.features:
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5)]


def test_lenet_parameter_count_matches_layer_formulas():
    model = LeNet()
    expected = (conv2d_params(1, 6, 5) + conv2d_params(6, 16, 5) + linear_params(400, 120)
                + linear_params(120, 84) + linear_params(84, 10))
    assert expected == 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert count_params(model) == expected
    assert model.features.conv2.weight.shape == (16, 6, 5, 5)


def test_lenet_original_32x32_layout():
    # LeCun et al. (1998): 32x32 input, no padding -> C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5
    model = LeNet(padding=0, input_size=32)
    assert model.flat_features == 400
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 10)
    assert lenet_feature_size(32, padding=0) == lenet_feature_size(28, padding=2) == 5
    assert lenet_feature_size(28, padding=0) == 4


@pytest.mark.parametrize("channels", [(4, 8), (6, 16), (16, 32)])
def test_lenet_configurable_filters(channels):
    model = LeNet(channels=channels)
    c1, c2 = channels
    assert model.features.conv1.out_channels == c1 and model.features.conv2.out_channels == c2
    assert model.flat_features == c2 * 25
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("activation, act_cls", [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid)])
@pytest.mark.parametrize("pool, pool_cls", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_lenet_activation_and_pool(activation, act_cls, pool, pool_cls):
    model = LeNet(activation=activation, pool=pool, num_classes=3, in_channels=3, hidden=(32, 16))
    assert isinstance(model.features.act1, act_cls) and isinstance(model.classifier.act4, act_cls)
    assert isinstance(model.features.pool2, pool_cls)
    assert model(torch.rand(2, 3, 28, 28)).shape == (2, 3)


def test_lenet_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        LeNet(activation="gelu")
    with pytest.raises(ValueError, match="pool"):
        LeNet(pool="min")
    with pytest.raises(ValueError, match="channels"):
        LeNet(channels=(6, 16, 32))
    with pytest.raises(ValueError, match="hidden"):
        lenet_classifier(400, hidden=(120,))


def test_lenet_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = LeNet()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    F.cross_entropy(model(x), y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.fixture
def one_thread():
    # tiny tensors: OpenMP threads only add overhead (and spin when the CPU is shared)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_lenet_learns_a_tiny_batch(one_thread):
    torch.manual_seed(0)
    model = LeNet(channels=(4, 8), hidden=(32, 16))
    x, y = torch.rand(10, 1, 28, 28), torch.arange(10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_lenet_classifier_shapes():
    head = lenet_classifier(392)
    assert head(torch.rand(5, 392)).shape == (5, 10)
    assert count_params(head) == linear_params(392, 120) + linear_params(120, 84) + linear_params(84, 10)


def test_hand_made_kernels():
    k = hand_made_kernels()
    assert len(k) == 8 and all(v.shape == (3, 3) and v.dtype == torch.float32 for v in k.values())
    for name, v in k.items():
        assert torch.isclose(v.abs().sum(), torch.tensor(1.0)), name     # scaled to unit L1 norm
    assert torch.isclose(k["blur"].sum(), torch.tensor(1.0))
    for name in ("Sobel x", "Sobel y", "Laplacian"):
        assert abs(k[name].sum().item()) < 1e-6, name   # derivative kernels ignore flat regions
        assert torch.equal(k["-" + name], -k[name])
    assert torch.allclose(k["Sobel x"] * 8, torch.from_numpy(kernels.sobel("x")))


def test_hand_made_features_shapes_and_frozen():
    ext = HandMadeFeatures()
    x = torch.rand(2, 1, 28, 28)
    out = ext(x)
    assert out.shape == (2, 8, 7, 7)
    assert ext.flat_features() == 392 == out[0].numel()
    assert ext.flat_features(32) == 8 * 8 * 8
    assert count_params(ext) == 72 and count_params(ext, trainable_only=True) == 0
    assert ext.names == list(hand_made_kernels())
    # an optimizer on the whole pipeline leaves the hand-made kernels unchanged
    model = nn.Sequential(ext, nn.Flatten(), lenet_classifier(392))
    before = ext.conv.weight.clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    F.cross_entropy(model(x), torch.tensor([1, 2])).backward()
    opt.step()
    assert torch.equal(ext.conv.weight, before)
    assert ext.conv.weight.grad is None


def test_hand_made_features_respond_to_edges():
    img = torch.zeros(1, 1, 8, 8)
    img[..., :, 4:] = 1.0          # dark left half, bright right half: a vertical edge
    ext = HandMadeFeatures()
    resp = ext.act(ext.conv(img))[0]
    i = ext.names.index("Sobel x")
    j = ext.names.index("-Sobel x")
    assert resp[i, :, 3:5].min() > 0 and resp[i, 2:6, :2].abs().max() == 0
    # the opposite polarity fires only at the zero-padded right border, never at the edge itself
    assert resp[j, :, 1:7].abs().max() == 0


def test_hand_made_features_custom_kernels():
    ext = HandMadeFeatures({"a": torch.ones(5, 5), "b": -torch.ones(5, 5)})
    assert ext(torch.rand(1, 1, 28, 28)).shape == (1, 2, 7, 7)
    assert ext.conv.padding == (2, 2)

"""cnnlib.model_parallel: AlexNet's two-GPU split gives the unsplit model's logits; the
communication points are the layers the paper says read both GPUs (conv3, fc6-fc8)."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from cnnlib.model_parallel import TwoDeviceAlexNet
from cnnlib.models.alexnet import AlexNet, SMALL_STAGES, alexnet, small_alexnet
from cnnlib.shapes import count_params


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(1, 3), hidden=st.sampled_from([8, 32, 256]))
def test_split_small_alexnet_gives_the_same_logits(seed, n, hidden):
    torch.manual_seed(seed)
    model = small_alexnet(hidden=hidden).eval()
    split = TwoDeviceAlexNet(model).eval()
    x = torch.randn(n, 1, 28, 28)
    assert torch.allclose(split(x), model(x), atol=1e-5, rtol=1e-4)
    assert count_params(split) == count_params(model)     # the halves hold the model, nothing more
    assert split.names == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert split.reads == ["image", "own", "both", "own", "own", "both", "both", "both"]
    assert [name for name, _ in split.exchanges] == ["conv3", "fc6", "fc7", "fc8", "output"]
    # each device sends its half of the previous layer's output: 32x6x6 / 2, 128 / 2, hidden / 2, hidden / 2
    assert [v for _, v in split.exchanges] == [16 * 6 * 6, 64, hidden // 2, hidden // 2, 5]


def test_split_gradients_match_the_model():
    torch.manual_seed(0)
    model = small_alexnet(dropout=0.0)
    split = TwoDeviceAlexNet(model)
    x, y = torch.randn(2, 1, 28, 28), torch.tensor([1, 7])
    nn.functional.cross_entropy(model(x), y).backward()
    nn.functional.cross_entropy(split(x), y).backward()
    conv3 = model.features[6]                       # conv3: 48 filters, split 24 + 24 over the devices
    got = torch.cat([split.halves[0][6].weight.grad, split.halves[1][6].weight.grad])
    assert isinstance(conv3, nn.Conv2d) and torch.allclose(got, conv3.weight.grad, atol=1e-6)


def test_paper_alexnet_communicates_where_the_paper_says():
    with torch.device("meta"):
        split = TwoDeviceAlexNet(alexnet("paper"), devices=("meta", "meta"))
        split(torch.empty(1, 3, 227, 227))
    # "the kernels of the third convolutional layer are connected to all kernel maps in the second
    # layer ... the neurons in the fully-connected layers are connected to all neurons in the previous layer"
    assert dict(split.exchanges) == {"conv3": 128 * 13 * 13, "fc6": 128 * 6 * 6, "fc7": 2048, "fc8": 2048, "output": 500}


def test_split_rejects_what_it_cannot_split():
    with pytest.raises(TypeError, match="AlexNet"):
        TwoDeviceAlexNet(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="avgpool"):
        TwoDeviceAlexNet(alexnet("torchvision"))
    with pytest.raises(ValueError, match="two devices"):
        TwoDeviceAlexNet(small_alexnet(), devices=("cpu",))
    with pytest.raises(ValueError, match="even number of outputs"):
        TwoDeviceAlexNet(AlexNet(SMALL_STAGES, in_channels=1, num_classes=9, hidden=8, input_size=28))

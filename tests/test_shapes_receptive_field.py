"""cnnlib.shapes.receptive_field: published values, and a measurement by gradients.

The measurement: build the layers in torch with every weight 1 and every bias 0, feed an
image of ones, and back-propagate from one output pixel. All weights are positive, so
an input pixel gets a nonzero gradient exactly when that output depends on it: the
extent of the nonzero gradients is the receptive field, and their midpoint its centre.
Max-pooling sends the gradient to the maximum only, so pools are measured as AvgPool2d
(same windows).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlib.shapes import RF, pool2d_output_size, receptive_field


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_stacked_3x3_convs_vgg_paper():
    """Simonyan & Zisserman: two stacked 3x3 convs see 5x5, three see 7x7."""
    rfs = receptive_field([(3, 1, 1)] * 3)
    assert [rf.size for rf in rfs] == [3, 5, 7]
    assert all(rf.jump == 1 and rf.start == 0 for rf in rfs)
    assert receptive_field([nn.Conv2d(1, 1, 3, padding=1)] * 2)[-1].size == 5


# Hand-written (kernel, stride, padding) lists: an independent transcription of the papers.
VGG16 = ([(3, 1, 1)] * 2 + [(2, 2, 0)] + [(3, 1, 1)] * 2 + [(2, 2, 0)]
         + ([(3, 1, 1)] * 3 + [(2, 2, 0)]) * 3)
ALEXNET = [(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]


def test_vgg16_published_receptive_fields():
    rfs = receptive_field(VGG16)
    assert rfs[-2].size == 196          # conv5_3
    assert rfs[-1] == RF(212, 32, 15.5)  # pool5
    # at 224x224, pool5 is 7x7 and its 7 field centres 15.5 + 32*i sit symmetrically about
    # the image centre 111.5 (= (224-1)/2)
    assert (15.5 + (15.5 + 32 * 6)) / 2 == (224 - 1) / 2
    with torch.device("meta"):
        features = torchvision.models.vgg16().features
    from_modules = receptive_field(features)   # includes the ReLUs, which keep the field
    assert len(from_modules) == len(features)
    assert [rf for rf, m in zip(from_modules, features) if not isinstance(m, nn.ReLU)] == rfs
    assert from_modules[28].size == 196 and from_modules[30].size == 212


def test_alexnet_published_receptive_field():
    rfs = receptive_field(ALEXNET)
    assert [rf.size for rf in rfs] == [11, 19, 51, 67, 99, 131, 163, 195]
    assert rfs[-1].jump == 32
    with torch.device("meta"):
        features = torchvision.models.alexnet().features
    assert receptive_field(features)[-1] == rfs[-1]


def test_start_and_padding_examples():
    assert receptive_field([(3, 1, 0)]) == [RF(3, 1, 1)]        # first output centred on pixel 1
    assert receptive_field([(2, 2, 0)]) == [RF(2, 2, 0.5)]      # between pixels 0 and 1
    assert receptive_field([(3, 1, 0, 2)]) == [RF(5, 1, 2)]     # dilation 2: spans 5 pixels
    assert receptive_field([((3, 5), 1, (1, 0))]) == [RF((3, 5), 1, (0, 2))]
    same = nn.Conv2d(1, 1, 4, padding="same")                   # pads 1 left/top, 2 right/bottom
    assert receptive_field([same]) == [RF(4, 1, 0.5)]
    assert receptive_field([nn.Conv2d(1, 1, 3, padding="valid")]) == [RF(3, 1, 1)]
    assert receptive_field(nn.MaxPool2d(3, 2)) == [RF(3, 2, 1)]  # a single module
    assert receptive_field([nn.MaxPool2d(2, dilation=2)]) == [RF(3, 2, 1)]
    assert receptive_field([nn.BatchNorm2d(3), nn.AvgPool2d(2)]) == [RF(1, 1, 0), RF(2, 2, 0.5)]


@pytest.mark.parametrize("layers, error, name", [
    ([(3, 1)], ValueError, "layers\\[0\\]"),
    ([(3, 0, 1)], ValueError, "stride"),
    ([(3, 1, -1)], ValueError, "padding"),
    ([(0, 1, 0)], ValueError, "kernel_size"),
    ([(3, 1, 0, 0)], ValueError, "dilation"),
    ([(3, 1, 1), nn.Linear(2, 2)], TypeError, "layers\\[1\\]"),
    ([nn.Flatten()], TypeError, "layers\\[0\\]"),
    ([3], TypeError, "layers\\[0\\]"),
])
def test_receptive_field_errors(layers, error, name):
    with pytest.raises(error, match=name):
        receptive_field(layers)


# ----------------------------------------------------------------- measured by gradients
def _torch_layers(spec):
    layers = []
    for kind, k, s, p, d, ceil in spec:
        if kind == "conv":
            conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, dtype=torch.float64)
            nn.init.ones_(conv.weight)
            nn.init.zeros_(conv.bias)
            layers.append(conv)
        elif kind == "avg":
            layers.append(nn.AvgPool2d(k, stride=s, padding=p, ceil_mode=ceil))
        else:
            layers.append(nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil))
    return layers


def _measured_field(layers, h, w):
    """(lo, hi) of input rows and of input columns that the centre output depends on."""
    x = torch.ones(1, 1, h, w, dtype=torch.float64, requires_grad=True)
    out = nn.Sequential(*layers)(x)
    i, j = (out.shape[-2] - 1) // 2, (out.shape[-1] - 1) // 2
    out[0, 0, i, j].backward()
    nonzero = x.grad[0, 0] != 0
    rows = nonzero.any(dim=1).nonzero().flatten()
    cols = nonzero.any(dim=0).nonzero().flatten()
    return (i, j), (rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item())


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


pairs = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731


@st.composite
def layer_stacks(draw):
    spec = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "avg"]))
        k = draw(pairs(1, 5))
        s = draw(pairs(1, 2))
        d = draw(pairs(1, 2)) if kind == "conv" else (1, 1)
        p = draw(st.tuples(st.integers(0, 3 if kind == "conv" else k[0] // 2),
                           st.integers(0, 3 if kind == "conv" else k[1] // 2)))
        spec.append((kind, k, s, p, d, draw(st.booleans())))
    return spec


@settings(max_examples=150, deadline=None)
@given(spec=layer_stacks(), extra=pairs(0, 12))
def test_receptive_field_matches_gradient_measurement(spec, extra):
    rf = receptive_field([(k, s, p, d) for _, k, s, p, d, _ in spec])[-1]
    size, jump = _pair(rf.size), _pair(rf.jump)
    h, w = (2 * size[a] + 2 * jump[a] + extra[a] for a in range(2))
    (i, j), rows, cols = _measured_field(_torch_layers(spec), h, w)
    for axis, (index, (lo, hi), n) in enumerate([(i, rows, h), (j, cols, w)]):
        centre = _pair(rf.start)[axis] + index * jump[axis]
        want_lo, want_hi = centre - (size[axis] - 1) / 2, centre + (size[axis] - 1) / 2
        assume(want_lo >= 0 and want_hi <= n - 1)     # field fully inside the image
        assert (lo, hi) == (want_lo, want_hi)
        assert hi - lo + 1 == size[axis]


def test_gradient_measurement_of_alexnet_and_vgg16_geometry():
    """The published numbers, measured: 1-channel copies of the real feature extractors."""
    for name, index, size in [("alexnet", 12, 195), ("vgg16", 28, 196), ("vgg16", 30, 212)]:
        with torch.device("meta"):
            features = getattr(torchvision.models, name)().features[: index + 1]
        spec = [("conv", m.kernel_size, m.stride, m.padding, m.dilation, False) if isinstance(m, nn.Conv2d)
                else ("avg", m.kernel_size, m.stride, m.padding, 1, m.ceil_mode)
                for m in features if not isinstance(m, nn.ReLU)]
        rf = receptive_field(features)[-1]
        assert rf.size == size
        _, rows, cols = _measured_field(_torch_layers(spec), 2 * size + 64, 2 * size + 64)
        assert rows[1] - rows[0] + 1 == size and cols[1] - cols[0] + 1 == size


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 3), ceil=st.booleans(), n=st.integers(12, 30))
def test_maxpool_field_by_perturbation(k, s, d, ceil, n):
    """MaxPool2d (with dilation, which AvgPool2d lacks): raising one input pixel above all
    others changes an output exactly when that pixel is in the output's window."""
    p = k // 2
    layer = nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    rf = receptive_field([layer])[0]
    out_n = pool2d_output_size(n, k, s, p, d, ceil)
    assert layer(torch.zeros(1, 1, n, n)).shape[-1] == out_n
    index = out_n // 2
    centre = rf.start + index * rf.jump
    hit = []
    for pixel in range(n):
        x = torch.zeros(1, 1, 1, n)
        x[..., pixel] = 1.0
        hit.append(bool(nn.MaxPool2d((1, k), (1, s), (0, p), (1, d), ceil_mode=ceil)(x)[0, 0, 0, index]))
    lo, hi = centre - (rf.size - 1) / 2, centre + (rf.size - 1) / 2
    assume(lo >= 0 and hi <= n - 1)
    seen = [i for i, h in enumerate(hit) if h]
    assert (seen[0], seen[-1]) == (lo, hi)
    assert len(seen) == k     # the k taps, d apart


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 5), p=st.integers(0, 4), d=st.integers(1, 3), kind=st.sampled_from(["max", "avg"]))
def test_pooling_geometry_torch_refuses_is_refused(k, p, d, kind):
    """receptive_field accepts a pooling module exactly when PyTorch can run it."""
    layer = nn.MaxPool2d(k, padding=p, dilation=d) if kind == "max" else nn.AvgPool2d(k, padding=p)
    try:
        layer(torch.zeros(1, 1, 24, 24))
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    if torch_ok:
        receptive_field([layer])
    else:
        with pytest.raises(ValueError, match=r"layers\[0\] padding must be at most half of kernel_size"):
            receptive_field([layer])

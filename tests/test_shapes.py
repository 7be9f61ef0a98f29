"""cnnlib.shapes: output sizes, padding and parameter / MAC counts, checked against real
PyTorch layers (tiny CPU tensors: 1 channel, a few pixels) and torchvision's models
(built on the meta device: no memory, no weights)."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib.shapes import (
    batchnorm2d_params,
    conv2d_macs,
    conv2d_output_size,
    conv2d_params,
    conv_transpose2d_output_size,
    count_params,
    linear_params,
    pool2d_output_size,
    same_padding,
    summary,
)

FAST = settings(max_examples=250, deadline=None)   # against a real layer: ~5 ms per example
FEW = settings(max_examples=60, deadline=None)     # pure arithmetic or a slow reference


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: thread start-up would cost more than the work (10x slower on 2 busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def torch_hw(layer, h, w):
    """Output (h, w) of a real layer on a 1x1xHxW zero input, or the error it raises.

    An empty output (size 0) counts as a refusal: some ConvTranspose2d code paths return
    one where the others raise "Output size is too small"; cnnlib always refuses.
    """
    try:
        with torch.no_grad():
            out = tuple(layer(torch.zeros(1, 1, h, w)).shape[-2:])
    except RuntimeError as err:
        return err
    return RuntimeError(f"empty output {out}") if 0 in out else out


def ours_hw(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        return err


def assert_same(ours, theirs, expected_name):
    """Same (h, w), or both refuse: torch with RuntimeError, ours with ValueError naming an argument."""
    if isinstance(theirs, Exception):
        assert isinstance(ours, ValueError), f"torch refused ({theirs}) but we returned {ours}"
        assert expected_name(str(theirs)) in str(ours)
    else:
        assert not isinstance(ours, Exception), f"torch gave {theirs} but we raised {ours}"
        assert ours == theirs


# ----------------------------------------------------------------- course notes numbers
def test_course_notes_numbers():
    assert conv2d_params(1, 32, 3) == 320                      # 3x3 kernel, 1 channel, 32 filters
    assert conv2d_params(3, 10, 3, bias=False) == 270          # 10 filters 3x3x3, no bias
    assert conv2d_params(128, 64, 3, bias=False) == 73_728     # 3x3x128x64
    assert conv2d_output_size(4, 3, stride=1, padding=1) == 4  # 4x4 in, k3 p1 s1 -> 4x4
    assert conv2d_output_size((4, 4), 3, stride=1, padding=1) == (4, 4)
    assert conv2d_output_size(5, 3) == 3                       # 5x5 image, 3x3 filter
    assert conv2d_output_size(7, 3) == 5
    assert conv2d_output_size(32, 5) == 28


def test_int_in_int_out_pair_in_tuple_out():
    assert conv2d_output_size(9, 3) == 7
    assert conv2d_output_size((9, 9), 3) == (7, 7)
    assert conv2d_output_size(9, (3, 5)) == (7, 5)
    assert conv2d_output_size([9, 11], 3, stride=[1, 2]) == (7, 5)
    assert pool2d_output_size(8, 2) == 4 and pool2d_output_size((8, 6), 2) == (4, 3)
    assert conv_transpose2d_output_size(4, 2, stride=2) == 8
    assert conv_transpose2d_output_size((4, 3), 2, stride=2) == (8, 6)
    assert same_padding(3) == 1 and same_padding((3, 5)) == (1, 2)
    assert isinstance(conv2d_output_size(9, 3), int)


def test_padding_strings():
    assert conv2d_output_size(9, 4, padding="same") == 9
    assert conv2d_output_size((9, 7), 4, padding="same", dilation=2) == (9, 7)
    assert conv2d_output_size(9, 4, padding="valid") == 6
    with pytest.raises(ValueError, match="stride"):
        conv2d_output_size(9, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding"):
        conv2d_output_size(9, 3, padding="full")


# ----------------------------------------------------------------- conv2d
def test_conv2d_exhaustive_small_grid():
    """Every (size, kernel, stride, padding, dilation) on a small grid: 1,200 configurations."""
    count = 0
    for n, k, s, p, d in itertools.product(range(1, 11), range(1, 6), range(1, 4), range(0, 4), range(1, 3)):
        weight = torch.zeros(1, 1, k, k)
        theirs = torch_hw(lambda x: F.conv2d(x, weight, stride=s, padding=p, dilation=d), n, n)
        assert_same(ours_hw(conv2d_output_size, (n, n), k, s, p, d), theirs, lambda msg: "kernel_size")
        count += 1
    assert count == 1200


sizes = st.integers(1, 40)
pairs = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731


@FAST
@given(h=sizes, w=sizes, k=pairs(1, 7), s=pairs(1, 4), p=pairs(0, 4), d=pairs(1, 3))
def test_conv2d_matches_nn_conv2d(h, w, k, s, p, d):
    layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    assert_same(ours_hw(conv2d_output_size, (h, w), k, s, p, d), torch_hw(layer, h, w), lambda msg: "kernel_size")


# ----------------------------------------------------------------- pooling
def _pool_error_name(msg):
    return "padding" if "pad should be" in msg else "kernel_size"


def test_pool_exhaustive_small_grid():
    """MaxPool2d with and without ceil_mode, incl. too-large padding: 2,880 configurations."""
    for n, k, s, p, d, ceil in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(0, 3),
                                                 range(1, 3), (False, True)):
        theirs = torch_hw(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil), n, n)
        assert_same(ours_hw(pool2d_output_size, (n, n), k, s, p, d, ceil), theirs, _pool_error_name)


@FAST
@given(h=sizes, w=sizes, k=pairs(1, 6), s=st.one_of(st.none(), pairs(1, 4)), p=pairs(0, 3), d=pairs(1, 3),
       ceil=st.booleans())
def test_pool2d_matches_nn_maxpool2d(h, w, k, s, p, d, ceil):
    layer = nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    assert_same(ours_hw(pool2d_output_size, (h, w), k, s, p, d, ceil), torch_hw(layer, h, w), _pool_error_name)


@FAST
@given(h=sizes, w=sizes, k=pairs(1, 6), s=st.one_of(st.none(), pairs(1, 4)), p=pairs(0, 3), ceil=st.booleans(),
       include_pad=st.booleans())
def test_pool2d_matches_nn_avgpool2d(h, w, k, s, p, ceil, include_pad):
    layer = nn.AvgPool2d(k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=include_pad)
    assert_same(ours_hw(pool2d_output_size, (h, w), k, s, p, 1, ceil), torch_hw(layer, h, w), _pool_error_name)


def test_pool_ceil_mode_examples():
    assert pool2d_output_size(55, 3, 2) == 27                      # AlexNet
    assert pool2d_output_size(112, 3, 2, ceil_mode=True) == 56     # GoogLeNet
    assert pool2d_output_size(5, 2, ceil_mode=True) == 3           # last window half outside
    # the last window would start in the right padding -> dropped (PyTorch's rule)
    assert pool2d_output_size(4, 2, stride=2, padding=1, ceil_mode=True) == 3
    assert F.max_pool2d(torch.zeros(1, 1, 4, 4), 2, 2, 1, ceil_mode=True).shape[-1] == 3
    with pytest.raises(ValueError, match="padding"):
        pool2d_output_size(10, 3, padding=2)
    with pytest.raises(TypeError, match="ceil_mode"):
        pool2d_output_size(10, 3, ceil_mode=1)


# ----------------------------------------------------------------- transposed conv
def test_conv_transpose_exhaustive_small_grid():
    for n, k, s, p, op, d in itertools.product(range(1, 7), range(1, 5), range(1, 4), range(0, 3), range(0, 3),
                                               range(1, 3)):
        weight = torch.zeros(1, 1, k, k)
        theirs = torch_hw(lambda x: F.conv_transpose2d(x, weight, stride=s, padding=p, output_padding=op,
                                                       dilation=d), n, n)
        assert_same(ours_hw(conv_transpose2d_output_size, (n, n), k, s, p, op, d), theirs,
                    lambda msg: "output_padding" if "output padding" in msg else "padding")


@FAST
@given(h=sizes, w=sizes, k=pairs(1, 6), s=pairs(1, 4), p=pairs(0, 4), op=pairs(0, 3), d=pairs(1, 3))
def test_conv_transpose2d_matches_nn_convtranspose2d(h, w, k, s, p, op, d):
    layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, dilation=d, bias=False)
    assert_same(ours_hw(conv_transpose2d_output_size, (h, w), k, s, p, op, d), torch_hw(layer, h, w),
                lambda msg: "output_padding" if "output padding" in msg else "padding")


@FEW
@given(n=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3))
def test_conv_transpose_inverts_conv_size(n, k, s, p, d):
    """ConvTranspose2d maps the conv output size back to the conv input size, with the right output_padding."""
    try:
        out = conv2d_output_size(n, k, s, p, d)
    except ValueError:
        return
    lost = (n + 2 * p - d * (k - 1) - 1) % s     # pixels the conv's floor() dropped
    assert conv_transpose2d_output_size(out, k, s, p, lost, d) == n
    if n - lost >= 1:
        assert conv_transpose2d_output_size(out, k, s, p, 0, d) == n - lost


def test_output_padding_rule():
    assert conv_transpose2d_output_size(7, 3, stride=2, padding=1, output_padding=1) == 14
    assert conv_transpose2d_output_size(7, 3, stride=1, padding=1, output_padding=1, dilation=2) == 10
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d_output_size(7, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding"):
        conv_transpose2d_output_size(1, 1, padding=1)


# ----------------------------------------------------------------- same padding
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 30), m=st.integers(1, 30), k=st.integers(1, 7), d=st.integers(1, 4))
def test_same_padding_matches_padding_same(n, m, k, d):
    torch.manual_seed(0)
    same = nn.Conv2d(1, 1, k, dilation=d, padding="same", bias=False)
    x = torch.randn(1, 1, n, m)
    with torch.no_grad():
        want = same(x)
    assert tuple(want.shape[-2:]) == (n, m)     # PyTorch's 'same' always keeps the size
    if d * (k - 1) % 2 == 0:                  # odd effective kernel: one symmetric padding suffices
        p = same_padding(k, d)
        assert p == d * (k - 1) // 2
        assert conv2d_output_size((n, m), k, 1, p, d) == (n, m)
        with torch.no_grad():
            got = F.conv2d(x, same.weight, padding=p, dilation=d)
        torch.testing.assert_close(got, want)
    else:                                     # even: needs one more pixel right/bottom than left/top
        with pytest.raises(ValueError, match="asymmetric"):
            same_padding(k, d)
        left = d * (k - 1) // 2
        right = d * (k - 1) - left
        with torch.no_grad():
            got = F.conv2d(F.pad(x, (left, right, left, right)), same.weight, dilation=d)
        torch.testing.assert_close(got, want)


def test_same_padding_examples():
    assert [same_padding(k) for k in (1, 3, 5, 7)] == [0, 1, 2, 3]
    assert same_padding(3, dilation=2) == 2
    assert same_padding(2, dilation=2) == 1          # effective kernel 3
    assert same_padding((3, 5), (1, 2)) == (1, 4)
    with pytest.raises(ValueError, match="kernel_size 4"):
        same_padding(4)


# ----------------------------------------------------------------- parameter counts
@FEW
@given(groups=st.integers(1, 4), a=st.integers(1, 5), b=st.integers(1, 5), k=pairs(1, 5), bias=st.booleans())
def test_conv2d_params_matches_nn_conv2d(groups, a, b, k, bias):
    c_in, c_out = groups * a, groups * b
    with torch.device("meta"):
        layer = nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)
    assert conv2d_params(c_in, c_out, k, groups=groups, bias=bias) == sum(p.numel() for p in layer.parameters())
    assert count_params(layer) == conv2d_params(c_in, c_out, k, groups, bias)


@FEW
@given(n_in=st.integers(1, 50), n_out=st.integers(1, 50), bias=st.booleans())
def test_linear_params_matches_nn_linear(n_in, n_out, bias):
    with torch.device("meta"):
        layer = nn.Linear(n_in, n_out, bias=bias)
    assert linear_params(n_in, n_out, bias) == count_params(layer)


def test_batchnorm2d_params_counts_gamma_beta_not_buffers():
    bn = nn.BatchNorm2d(64)
    assert batchnorm2d_params(64) == 128 == count_params(bn)
    assert sum(b.numel() for b in bn.buffers()) == 64 + 64 + 1   # running_mean, running_var, num_batches_tracked
    assert batchnorm2d_params(64, affine=False) == 0 == count_params(nn.BatchNorm2d(64, affine=False))


def test_count_params_trainable_only():
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.Linear(10, 5))
    model[0].requires_grad_(False)
    assert count_params(model) == 320 + 55
    assert count_params(model, trainable_only=True) == 55
    shared = nn.Linear(3, 3)
    assert count_params(nn.Sequential(shared, shared)) == 12   # shared weights counted once


@FEW
@given(groups=st.integers(1, 3), a=st.integers(1, 4), b=st.integers(1, 4), k=pairs(1, 4),
       h=st.integers(4, 12), w=st.integers(4, 12), stride=st.integers(1, 2))
def test_conv2d_macs_match_torch_flop_counter(groups, a, b, k, h, w, stride):
    """torch.utils.flop_counter counts 2 FLOPs (a multiply and an add) per multiply-add."""
    from torch.utils.flop_counter import FlopCounterMode

    c_in, c_out = groups * a, groups * b
    with torch.device("meta"):
        layer = nn.Conv2d(c_in, c_out, k, stride=stride, groups=groups)
        with FlopCounterMode(display=False) as counter:
            out = layer(torch.zeros(1, c_in, h, w))
    assert 2 * conv2d_macs(c_in, c_out, k, tuple(out.shape[-2:]), groups) == counter.get_total_flops()


def test_conv2d_macs_examples():
    assert conv2d_macs(3, 64, 11, 55) == 3 * 11 * 11 * 64 * 55 * 55
    assert conv2d_macs(32, 32, 3, (10, 20), groups=32) == 3 * 3 * 32 * 200   # depthwise


# ----------------------------------------------------------------- argument errors
@pytest.mark.parametrize("call, error, name", [
    (lambda: conv2d_output_size(-1, 3), ValueError, "size"),
    (lambda: conv2d_output_size((8, 0), 3), ValueError, r"size\[1\]"),
    (lambda: conv2d_output_size(8, 3, stride=0), ValueError, "stride"),
    (lambda: conv2d_output_size(8, 3, padding=-1), ValueError, "padding"),
    (lambda: conv2d_output_size(8, 3, dilation=0), ValueError, "dilation"),
    (lambda: conv2d_output_size(2, 5), ValueError, "kernel_size"),
    (lambda: conv2d_output_size(4, 3, dilation=2), ValueError, "kernel_size"),
    (lambda: conv2d_output_size(8.0, 3), TypeError, "size"),
    (lambda: conv2d_output_size(8, True), TypeError, "kernel_size"),
    (lambda: conv2d_output_size((8, 8, 8), 3), ValueError, "size"),
    (lambda: pool2d_output_size(8, 2, stride=0), ValueError, "stride"),
    (lambda: pool2d_output_size(-8, 2), ValueError, "size"),
    (lambda: pool2d_output_size(2, 5), ValueError, "kernel_size"),
    (lambda: conv_transpose2d_output_size(0, 2), ValueError, "size"),
    (lambda: conv_transpose2d_output_size(4, 2, output_padding=-1), ValueError, "output_padding"),
    (lambda: same_padding(0), ValueError, "kernel_size"),
    (lambda: same_padding(3, dilation=0), ValueError, "dilation"),
    (lambda: conv2d_params(3, 8, 3, groups=2), ValueError, "groups"),
    (lambda: conv2d_params(4, 6, 3, groups=4), ValueError, "groups"),
    (lambda: conv2d_params(4, 8, 3, groups=0), ValueError, "groups"),
    (lambda: conv2d_params(0, 8, 3), ValueError, "in_channels"),
    (lambda: conv2d_params(3, -8, 3), ValueError, "out_channels"),
    (lambda: conv2d_params(3, 8, 3, bias=1), TypeError, "bias"),
    (lambda: linear_params(0, 8), ValueError, "in_features"),
    (lambda: linear_params(3, 8, bias=None), TypeError, "bias"),
    (lambda: batchnorm2d_params(0), ValueError, "num_features"),
    (lambda: conv2d_macs(3, 8, 3, 0), ValueError, "output_size"),
    (lambda: conv2d_macs(3, 8, 3, 4, groups=2), ValueError, "groups"),
    (lambda: count_params("model"), TypeError, "model"),
])
def test_errors_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ----------------------------------------------------------------- torchvision models
PUBLISHED = {  # torchvision's documented parameter counts and GFLOPS (= multiply-adds)
    "alexnet": (61_100_840, 0.71),
    "vgg16": (138_357_544, 15.47),
    "vgg19": (143_667_240, None),
    "googlenet": (6_624_904, None),
    "resnet18": (11_689_512, 1.81),
    "resnet50": (25_557_032, 4.09),
    "densenet121": (7_978_856, None),
}


def _build(name):
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device("meta"):
        return getattr(torchvision.models, name)(**kwargs)


@pytest.fixture(scope="module")
def models():
    return {name: _build(name) for name in PUBLISHED}


@pytest.mark.parametrize("name", PUBLISHED)
def test_every_conv_and_linear_of_torchvision_models(models, name):
    model = models[name]
    n_layers = 0
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            want = conv2d_params(module.in_channels, module.out_channels, module.kernel_size,
                                 groups=module.groups, bias=module.bias is not None)
        elif isinstance(module, nn.Linear):
            want = linear_params(module.in_features, module.out_features, bias=module.bias is not None)
        elif isinstance(module, nn.BatchNorm2d):
            want = batchnorm2d_params(module.num_features, affine=module.affine)
        else:
            continue
        assert want == sum(p.numel() for p in module.parameters()), module
        n_layers += 1
    assert n_layers > 5


@pytest.mark.parametrize("name", PUBLISHED)
def test_summary_totals_match_torchvision(models, name):
    params, gflops = PUBLISHED[name]
    result = summary(models[name], (1, 3, 224, 224))
    assert result.total_params == params == count_params(models[name])
    assert result.trainable_params == params
    assert result.rows[-1].output_shape == (1, 1000)
    if gflops is not None:
        assert result.total_macs / 1e9 == pytest.approx(gflops, rel=0.02)
    # cross-check every counted layer against torch's own FLOP counter (2 FLOPs per MAC)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        models[name].eval()(torch.zeros(1, 3, 224, 224, device="meta"))
    assert 2 * result.total_macs == counter.get_total_flops()


def test_docstring_examples():
    import doctest
    import importlib

    for name in ("sizes", "params", "receptive", "summary_table"):
        module = importlib.import_module(f"cnnlib.shapes.{name}")
        assert doctest.testmod(module).failed == 0, name


@pytest.mark.parametrize("value", [True, False])
def test_ceil_mode_flag_accepts_what_torch_accepts(value):
    import torch
    import torch.nn as nn

    from cnnlib.shapes import pool2d_output_size

    got = pool2d_output_size(7, 2, ceil_mode=value)
    assert got == nn.MaxPool2d(2, ceil_mode=value)(torch.zeros(1, 1, 7, 7)).shape[-1]


@pytest.mark.parametrize("value", ["yes", None, 2, 1.0, 1, 0])
def test_ceil_mode_flag_rejects_anything_else(value):
    """PyTorch's nn.MaxPool2d refuses ceil_mode=1 too; every cnnlib flag is this strict."""
    import torch
    import torch.nn as nn

    from cnnlib.shapes import pool2d_output_size

    if isinstance(value, int):
        with pytest.raises(TypeError, match="ceil_mode"):
            nn.MaxPool2d(2, ceil_mode=value)(torch.zeros(1, 1, 7, 7))

    with pytest.raises(TypeError, match="ceil_mode must be True or False"):
        pool2d_output_size(7, 2, ceil_mode=value)

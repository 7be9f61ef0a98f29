"""cnnlib.checks.deep_nets: right answers pass, stubs fail with the not-implemented
message, typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.checks import CheckFailed
from cnnlib.checks.deep_nets import (
    block_params, check_batchnorm_forward, check_block_params, check_bn_counts, check_dense_channels,
    check_dense_forward, check_residual_block,
)


# ---------------------------------------------------------------- batch norm forward
def bn_right(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return gamma[None, :, None, None] * (x - mean) / torch.sqrt(var + eps) + beta[None, :, None, None]


def bn_unbiased(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True)
    return gamma[None, :, None, None] * (x - mean) / torch.sqrt(var + eps) + beta[None, :, None, None]


def bn_per_sample(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    return gamma[None, :, None, None] * (x - mean) / torch.sqrt(var + eps) + beta[None, :, None, None]


def bn_no_affine(x, gamma, beta, eps=1e-5):
    return F.batch_norm(x, None, None, training=True, eps=eps)


def bn_eps_outside(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return gamma[None, :, None, None] * (x - mean) / (std + eps) + beta[None, :, None, None]


def bn_stub(x, gamma, beta, eps=1e-5):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_batchnorm_right_passes(hidden, capsys):
    check_batchnorm_forward(bn_right, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    (bn_stub, "not implemented"),
    (bn_unbiased, "unbiased"),
    (bn_per_sample, "per-sample"),
    (bn_no_affine, "gamma and beta are missing"),
    (bn_eps_outside, "inside the square root"),
    (lambda x, g, b, eps=1e-5: (bn_right(x, g, b, eps), None), "not a tuple"),
    (lambda x, g, b, eps=1e-5: bn_right(x, g, b, eps)[:, 0], "keeps the shape"),
    (lambda x, g, b, eps=1e-5: ..., "not implemented"),
    (lambda x, g, b, eps=1e-5: bn_right(x, g, b, eps) + 1, "differs from F.batch_norm"),
])
def test_batchnorm_wrong_answers(fn, match):
    with pytest.raises(CheckFailed, match=match):
        check_batchnorm_forward(fn)


def test_bn_counts(capsys):
    check_bn_counts(128, 129)
    assert "all checks passed" in capsys.readouterr().out
    for params, buffers, match in [(..., 129, "not implemented"), (256, 129, "buffers, not parameters"),
                                   (64, 129, "two learned vectors"), (128, 128, "num_batches_tracked"),
                                   (128, 64, "C values each"), (128.5, 129, "whole number"), (128, 7, "named_buffers")]:
        with pytest.raises(CheckFailed, match=match):
            check_bn_counts(params, buffers)
    check_bn_counts(128.0, 129)


# ------------------------------------------------------------------ residual block
class Block(nn.Module):
    """The right answer; the class attributes switch on typical mistakes."""
    mistake = None

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        if self.mistake == "stub_init":
            raise NotImplementedError()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        sc_stride = 1 if self.mistake == "stride" else stride
        needs = stride != 1 or in_channels != out_channels
        if self.mistake == "always_projection" or needs:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, sc_stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()
        if self.mistake == "stub_shortcut":
            del self.shortcut
            self.shortcut = ...

    def forward(self, x):
        if self.mistake == "stub":
            raise NotImplementedError()
        f = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.mistake == "no_shortcut":
            return F.relu(f)
        if self.mistake == "relu_before_add":
            return F.relu(f) + self.shortcut(x)
        if self.mistake == "no_final_relu":
            return f + self.shortcut(x)
        return F.relu(f + self.shortcut(x))


def make(mistake):
    return type("B", (Block,), {"mistake": mistake})


@pytest.mark.parametrize("hidden", [False, True])
def test_residual_block_right_passes(hidden, capsys):
    check_residual_block(Block, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, match", [
    ("stub", "not implemented"),
    ("stub_init", "not implemented"),
    ("stub_shortcut", "shortcut is not set"),
    ("no_shortcut", "shortcut is missing"),
    ("relu_before_add", "ReLU comes before the addition"),
    ("no_final_relu", "final ReLU"),
    ("stride", "stride"),
    ("always_projection", "identity"),
])
def test_residual_block_mistakes(mistake, match):
    with pytest.raises(CheckFailed, match=match):
        check_residual_block(make(mistake))


def test_residual_block_shape_mismatch_is_explained():
    class NoProjection(Block):
        def __init__(self, cin, cout, stride=1):
            super().__init__(cin, cout, stride)
            self.shortcut = nn.Identity()

    with pytest.raises(CheckFailed, match="projection"):
        check_residual_block(NoProjection)


def test_block_params(capsys):
    right = block_params(64, 128, 2)
    assert right == 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 64 * 128 + 3 * 2 * 128 == 230_144
    check_block_params(right)
    assert "all checks passed" in capsys.readouterr().out
    for wrong, match in [(..., "not implemented"), (221_696, "projection shortcut is missing"),
                         (230_144 - 256, "projection's BatchNorm"), (230_144 + 384, "no bias"), (1, "1x1 projection")]:
        with pytest.raises(CheckFailed, match=match):
            check_block_params(wrong)


# -------------------------------------------------------------------------- DenseNet
def test_dense_channels(capsys):
    check_dense_channels(256, 128, 28)
    assert "all checks passed" in capsys.readouterr().out
    for args, match in [((..., 128, 28), "not implemented"), ((192, 96, 28), "also contains its input"),
                        ((4096, 2048, 28), "do not double"), ((256, 256, 28), "compresses"),
                        ((256, 128, 56), "halves H and W"), ((224, 112, 28), "all 6 layers"),
                        ((256, 64, 28), "does not return"), ((256, 128, 14), "56 ->")]:
        with pytest.raises(CheckFailed, match=match):
            check_dense_channels(*args)


def dense_right(x, layers):
    features = [x]
    for layer in layers:
        features.append(layer(torch.cat(features, dim=1)))
    return torch.cat(features, dim=1)


def dense_chain(x, layers):
    out = x
    for layer in layers:
        out = layer(out)
    return out


def dense_no_input(x, layers):
    return dense_right(x, layers)[:, x.shape[1]:]


def dense_reversed(x, layers):
    out = dense_right(x, layers)
    return torch.cat([out[:, x.shape[1]:], x], dim=1)


@pytest.mark.parametrize("hidden", [False, True])
def test_dense_forward_right_passes(hidden, capsys):
    check_dense_forward(dense_right, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    (lambda x, layers: (_ for _ in ()).throw(NotImplementedError()), "not implemented"),
    (lambda x, layers: ..., "not implemented"),
    (dense_chain, "ALL earlier outputs"),
    (dense_no_input, "input x is part of its output"),
    (dense_reversed, "keep the order"),
    (lambda x, layers: [x], "should return a tensor"),
])
def test_dense_forward_mistakes(fn, match):
    with pytest.raises(CheckFailed, match=match):
        check_dense_forward(fn)

"""cnnlib.checks.deep_nets: right answers pass, stubs fail with the not-implemented
message, typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.checks import CheckFailed
from cnnlib.checks.deep_nets import (
    block_params, check_batchnorm_backward, check_batchnorm_forward, check_block_params, check_bn_counts,
    check_dense_channels, check_dense_forward, check_residual_block,
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
    # the exercise: BatchNorm2d(24), (40), (88): 2 * 152 parameters, 2 * 152 + 3 buffer values
    layers = [nn.BatchNorm2d(c) for c in (24, 40, 88)]
    right_p = sum(p.numel() for bn in layers for p in bn.parameters())
    right_b = sum(b.numel() for bn in layers for b in bn.buffers())
    assert (right_p, right_b) == (304, 307)
    check_bn_counts(right_p, right_b)
    assert "all checks passed" in capsys.readouterr().out
    for params, buffers, match in [(..., 307, "not implemented"), (608, 307, "buffers, not parameters"),
                                   (152, 307, "two learned vectors"), (304, 304, "one integer per layer"),
                                   (304, 305, "each of the layers has its own"), (304, 152, "C values each"),
                                   (128, 307, "BatchNorm2d\\(64\\)"), (304, 129, "BatchNorm2d\\(64\\)"),
                                   (176, 307, "all the layers"), (304.5, 307, "whole number"), (304, 7, "named_buffers")]:
        with pytest.raises(CheckFailed, match=match):
            check_bn_counts(params, buffers)
    check_bn_counts(304.0, 307)
    check_bn_counts(128, 129, channels=(64,))


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
    # the exercise: C0 = 24, 16 layers, k = 12, 52x52 -> 24 + 16 * 12 = 216, 108, 26
    check_dense_channels(216, 108, 26)
    assert "all checks passed" in capsys.readouterr().out
    check_dense_channels(256, 128, 28, c0=64, layers=6, k=32, size=56)
    for args, match in [((..., 108, 26), "not implemented"), ((192, 96, 26), "also contains its input"),
                        ((24 * 2 ** 16, 108, 26), "do not double"), ((216, 216, 26), "compresses"),
                        ((216, 108, 52), "halves H and W"), ((204, 102, 26), "the last one too"),
                        ((216, 24, 26), "does not return"), ((216, 108, 13), "keeps H and W"),
                        ((216, 108, 25), "stride 2"), ((256, 128, 26), "DenseNet-121's first block"),
                        ((216, 108, 30), "floor"), ((36, 18, 26), "after one layer")]:
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


# ---------------------------------------------------------------- batch norm backward
def bnb_right(dout, x, gamma, eps=1e-5):
    dims = (0, 2, 3)
    mean = x.mean(dim=dims, keepdim=True)
    inv_std = 1 / torch.sqrt(x.var(dim=dims, unbiased=False, keepdim=True) + eps)
    xhat = (x - mean) * inv_std
    dxhat = dout * gamma[None, :, None, None]
    dx = inv_std * (dxhat - dxhat.mean(dim=dims, keepdim=True) - xhat * (dxhat * xhat).mean(dim=dims, keepdim=True))
    return dx, (dout * xhat).sum(dim=dims), dout.sum(dim=dims)


def bnb_constant_stats(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    std = torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + eps)
    return dout * gamma[None, :, None, None] / std, dg, db


def bnb_no_var_term(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    dxhat = dout * gamma[None, :, None, None]
    std = torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + eps)
    return (dxhat - dxhat.mean(dim=(0, 2, 3), keepdim=True)) / std, dg, db


def bnb_dgamma_is_dbeta(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    return dx, db.clone(), db


def bnb_dbeta_all(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    return dx, dg, dout.sum(dim=(0, 2, 3)) * 0 + dout.sum()


def bnb_no_gamma(dout, x, gamma, eps=1e-5):
    return bnb_right(dout, x, torch.ones_like(gamma), eps)


def bnb_stub(dout, x, gamma, eps=1e-5):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_batchnorm_backward_right_passes(hidden, capsys):
    check_batchnorm_backward(bnb_right, hidden=hidden)
    out = capsys.readouterr().out
    assert "all checks passed" in out and "numerical gradient check" in out


def test_numerical_gradient_agrees_with_autograd():
    from cnnlib.checks.deep_nets import _bn_backward_reference, _numerical_dx, _rel_error
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 2, 2, generator=g, dtype=torch.float64)
    gamma = torch.rand(2, generator=g, dtype=torch.float64) + 0.5
    dout = torch.randn(3, 2, 2, 2, generator=g, dtype=torch.float64)
    assert _rel_error(_numerical_dx(dout, x.clone(), gamma, 1e-5), _bn_backward_reference(dout, x, gamma, 1e-5)[0]) < 1e-7


@pytest.mark.parametrize("fn, match", [
    (bnb_stub, "not implemented"),
    (lambda d, x, g, eps=1e-5: ..., "not implemented"),
    (bnb_constant_stats, "mean and variance as constants"),
    (bnb_no_var_term, "through the variance"),
    (bnb_dgamma_is_dbeta, "it equals dbeta"),
    (bnb_dbeta_all, "dbeta is wrong"),
    (bnb_no_gamma, "gamma is missing"),
    (lambda d, x, g, eps=1e-5: bnb_right(d, x, g, eps)[:2], "tuple of three"),
    (lambda d, x, g, eps=1e-5: (bnb_right(d, x, g, eps)[0], d.sum(), d.sum()), "shape of gamma"),
])
def test_batchnorm_backward_mistakes(fn, match):
    with pytest.raises(CheckFailed, match=match):
        check_batchnorm_backward(fn)


# ------------------------------------------------- no answer given away (tests in main)
_bn_x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1)) * 3 + 2

LEAK_CASES = [
    (check_batchnorm_forward, (bn_unbiased,), {}, ["unbiased=False, keepdim"]),
    (check_batchnorm_forward, (lambda x, g, b, eps=1e-5: bn_right(x, g, b, eps)[:, 0],), {}, ["expected (4, 3, 5, 5)"]),
    (check_batchnorm_forward, (bn_per_sample,), {}, ["expected"]),
    (check_bn_counts, (152, 307), {}, ["304"]),
    (check_bn_counts, (608, 307), {}, ["304"]),
    (check_bn_counts, (304, 304), {}, ["307"]),
    (check_bn_counts, (304, 305), {}, ["307"]),
    (check_bn_counts, (128, 129), {}, ["304", "307"]),
    (check_batchnorm_backward, (bnb_constant_stats,), {}, ["expected"]),
    (check_batchnorm_backward, (bnb_dgamma_is_dbeta,), {}, ["expected"]),
    (check_batchnorm_backward, (lambda d, x, g, eps=1e-5: (bnb_right(d, x, g, eps)[0], d.sum(), d.sum()),), {},
     ["(2,)"]),
    (check_residual_block, (make("no_shortcut"),), {}, ["expected"]),
    (check_residual_block, (make("stride"),), {}, ["(2, 16, 4, 4)"]),
    (check_block_params, (221_696,), {}, ["230144", "8192"]),
    (check_block_params, (230_144 - 256,), {}, ["230144"]),
    (check_block_params, (1,), {}, ["230144"]),
    (check_dense_channels, (192, 96, 26), {}, ["216", "108"]),
    (check_dense_channels, (216, 216, 26), {}, ["108"]),
    (check_dense_channels, (216, 108, 52), {}, ["26"]),
    (check_dense_channels, (256, 128, 28), {}, ["216", "108"]),
    (check_dense_forward, (dense_chain,), {}, ["(2, 14, 5, 5)"]),
    (check_dense_forward, (dense_no_input,), {}, ["(2, 14, 5, 5)"]),
    # the fallbacks and hints name the mistake, never the formula that fixes it
    (check_batchnorm_forward, (lambda x, g, b, eps=1e-5: x * 0 + 1,), {}, ["sqrt(var + eps) + beta"]),
    (check_batchnorm_backward, (bnb_constant_stats,), {}, ["mean(dx_hat * x_hat)", "mean(dx_hat)"]),
    (check_batchnorm_backward, (lambda d, x, g, eps=1e-5: (bnb_right(d, x, g, eps)[0] * 0.5,
                                                          *bnb_right(d, x, g, eps)[1:]),), {},
     ["mean(dx_hat", "dx = ("]),
    (check_batchnorm_backward, (bnb_dgamma_is_dbeta,), {}, ["dout * x_hat summed", "sum over N, H, W of dout"]),
    (check_residual_block, (make("no_shortcut"),), {}, ["relu(bn2(conv2"]),
]

EXERCISE_ANSWERS = {
    "09_batchnorm_dropout_init.ipynb": {"ex2-answer": ["304", "307"]},
    "10_resnet.ipynb": {"ex1-answer": ["230144"]},
    "11_densenet.ipynb": {"ex1-answer": ["216", "108", "26"],
                          "ex3-answer": ["1504", "1936", "428", "860"]},   # predict-then-argue, by hand
}


@pytest.mark.parametrize("check, args, kwargs, forbidden", LEAK_CASES)
def test_wrong_answers_never_show_the_right_value(check, args, kwargs, forbidden, capsys):
    with pytest.raises(CheckFailed) as err:
        check(*args, **kwargs)
    shown = str(err.value) + capsys.readouterr().out
    for value in forbidden:
        assert value not in shown, (value, shown)

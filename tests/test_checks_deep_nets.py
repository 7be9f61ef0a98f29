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
    "11_densenet.ipynb": {"ex1-answer": ["216", "108", "26"]},
}


@pytest.mark.parametrize("check, args, kwargs, forbidden", LEAK_CASES)
def test_wrong_answers_never_show_the_right_value(check, args, kwargs, forbidden, capsys):
    with pytest.raises(CheckFailed) as err:
        check(*args, **kwargs)
    shown = str(err.value) + capsys.readouterr().out
    for value in forbidden:
        assert value not in shown, (value, shown)


# ------------------------------------------------- 10: pre-activation residual block
from cnnlib.checks.deep_nets import _PreActReference, check_preact_block  # noqa: E402


class PreAct(nn.Module):
    """The right answer (shortcut on x); the class attributes switch on typical mistakes."""
    mistake = None

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        if self.mistake == "stub_init":
            raise NotImplementedError()
        self.bn1 = nn.BatchNorm2d(cout if self.mistake == "bn1_out" else cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=self.mistake == "bias")
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        needs = stride != 1 or cin != cout
        if self.mistake == "no_projection" or not needs:
            self.shortcut = nn.Identity()
        elif self.mistake == "projection_bn":
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Conv2d(cin, cout, 1, 1 if self.mistake == "sc_stride" else stride, bias=False)
        if self.mistake == "extra":
            self.scale = nn.Parameter(torch.ones(1))
        if self.mistake == "stub_shortcut":
            del self.shortcut
            self.shortcut = ...

    def forward(self, x):
        m = self.mistake
        if m == "stub":
            raise NotImplementedError()
        a = F.relu(self.bn1(x))
        if m == "relu_bn":
            a = self.bn1(F.relu(x))
            out = self.conv2(self.bn2(F.relu(self.conv1(a))))
        elif m == "post_activation":
            out = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        else:
            out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        if m == "no_shortcut":
            return out
        projects = not isinstance(self.shortcut, nn.Identity)
        s = self.shortcut(a if m == "preact_shortcut" and projects else x)   # the authors' code: both accepted
        if m == "relu_after_add":
            return F.relu(out + s)
        if m == "tuple":
            return out + s, s
        return out + s


def preact(mistake):
    return type("P", (PreAct,), {"mistake": mistake})


def test_preact_reference_matches_a_functional_composition():
    torch.manual_seed(0)
    for cin, cout, stride in [(3, 3, 1), (3, 5, 2)]:
        ref = _PreActReference(cin, cout, stride).eval()
        for bn in (ref.bn1, ref.bn2):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
        x = torch.randn(2, cin, 6, 6)

        def bn(t, m):
            return F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

        f = F.conv2d(F.relu(bn(F.conv2d(F.relu(bn(x, ref.bn1)), ref.conv1.weight, stride=stride, padding=1), ref.bn2)),
                     ref.conv2.weight, padding=1)
        s = x if stride == 1 and cin == cout else F.conv2d(x, ref.shortcut.weight, stride=stride)
        with torch.no_grad():
            assert torch.allclose(ref(x), f + s, atol=1e-5)
        assert sum(p.numel() for p in ref.parameters()) == (2 * cin + 9 * cin * cout + 2 * cout + 9 * cout * cout
                                                            + (cin * cout if (cin, stride) != (cout, 1) else 0))


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("cls", [PreAct, preact("preact_shortcut")])
def test_preact_right_passes(cls, hidden, capsys):
    check_preact_block(cls, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, match", [
    ("stub", "not implemented"),
    ("stub_init", "not implemented"),
    ("stub_shortcut", "shortcut is not set"),
    ("relu_after_add", "ReLU after the addition"),
    ("relu_bn", "wrong order"),
    ("post_activation", "post-activation"),
    ("no_shortcut", "shortcut is missing"),
    ("no_projection", "projection shortcut is missing"),
    ("projection_bn", "projection has a BatchNorm"),
    ("sc_stride", "projection's stride"),
    ("bn1_out", "bn1 comes BEFORE conv1"),
    ("bias", "bias=False"),
    ("extra", "parameters, which is not right"),
    ("tuple", "returned tuple"),
])
def test_preact_mistakes(mistake, match):
    with pytest.raises(CheckFailed, match=match):
        check_preact_block(preact(mistake), hidden=True)


def test_preact_behaviour_catches_what_the_values_miss():
    class Clamped(PreAct):   # right on the check's inputs in eval mode, wrong far out: a clamp after the sum
        def forward(self, x):
            return super().forward(x).clamp(-50, 50) if self.training else super().forward(x)

    class Detached(PreAct):  # right values, but the identity path carries no gradient
        def forward(self, x):
            return super().forward(x) - x + x.detach()

    check_preact_block(Clamped)   # a clamp far outside the values is harmless
    with pytest.raises(CheckFailed, match="gradient 1"):
        check_preact_block(Detached)


LEAK_CASES += [  # noqa: F405 - the list above
    (check_preact_block, (preact("extra"),), {}, ["3632", "1184"]),
    (check_preact_block, (preact("bn1_out"),), {}, ["has 8 channels", "in_channels = 8"]),
    (check_preact_block, (preact("no_shortcut"),), {}, ["conv2(relu(bn2(conv1", "out + x"]),
    (check_preact_block, (preact("relu_after_add"),), {}, ["(2, 8, 8, 8)", "expected"]),
    (check_preact_block, (preact("tuple"),), {}, ["(2, 8, 8, 8)"]),
]
EXERCISE_ANSWERS["10_resnet.ipynb"]["ex2-answer"] = ["self.conv2(F.relu(self.bn2(self.conv1(", "PreActBlock(nn.Module)"]

"""cnnlib.checks.deep_nets: right answers pass, stubs fail with the not-implemented
message, typical wrong answers fail with a hint that names the mistake."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.checks import CheckFailed
from cnnlib.checks.deep_nets import (
    block_params, bn_exercise_net, check_batchnorm_backward, check_batchnorm_forward, check_block_params,
    check_bn_counts,
    check_dense_channels, check_dense_forward,
)


# ---------------------------------------------------------------- batch norm forward
# Exercises 1 and 4 are in NumPy: the checks pass float64 arrays and want arrays back.
AX = (0, 2, 3)


def bn_right(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=AX, keepdims=True)
    var = x.var(axis=AX, keepdims=True)
    return gamma[None, :, None, None] * (x - mean) / np.sqrt(var + eps) + beta[None, :, None, None]


def bn_unbiased(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=AX, keepdims=True)
    var = x.var(axis=AX, ddof=1, keepdims=True)
    return gamma[None, :, None, None] * (x - mean) / np.sqrt(var + eps) + beta[None, :, None, None]


def bn_per_sample(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mean) / np.sqrt(var + eps) + beta[None, :, None, None]


def bn_no_affine(x, gamma, beta, eps=1e-5):
    return (x - x.mean(axis=AX, keepdims=True)) / np.sqrt(x.var(axis=AX, keepdims=True) + eps)


def bn_no_eps(x, gamma, beta, eps=1e-5):
    return bn_right(x, gamma, beta, 0.0)


def bn_no_beta(x, gamma, beta, eps=1e-5):
    return bn_right(x, gamma, np.zeros_like(beta), eps)


def bn_eps_outside(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=AX, keepdims=True)
    std = x.std(axis=AX, keepdims=True)
    return gamma[None, :, None, None] * (x - mean) / (std + eps) + beta[None, :, None, None]


def bn_torch_functional(x, gamma, beta, eps=1e-5):   # PyTorch's batch norm, handed back as an array
    t = torch.from_numpy
    return F.batch_norm(t(x), None, None, t(gamma), t(beta), training=True, eps=eps).numpy()


def bn_torch_module(x, gamma, beta, eps=1e-5):
    layer = nn.BatchNorm2d(x.shape[1], eps=eps).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
        return layer(torch.from_numpy(x)).numpy()


def bn_torch_tensor(x, gamma, beta, eps=1e-5):   # right values, as a torch tensor
    return torch.from_numpy(bn_right(x, gamma, beta, eps))


def running(x, running_mean, running_var, momentum):
    """The right running averages after one training step (PyTorch's rule, written out)."""
    m = x.size // x.shape[1]
    mean, var_u = x.mean(axis=AX), x.var(axis=AX) * m / (m - 1)
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var_u


def eval_mode(x, gamma, beta, running_mean, running_var, eps):
    rm, rv = running_mean[None, :, None, None], running_var[None, :, None, None]
    return gamma[None, :, None, None] * (x - rm) / np.sqrt(rv + eps) + beta[None, :, None, None]


def full(train_out, update=running, test_out=eval_mode):
    """exercise 1's signature from its three parts, so that one part at a time can be wrong."""
    def batchnorm_forward(x, gamma, beta, running_mean, running_var, mode, momentum=0.1, eps=1e-5):
        if mode == "train":
            return (train_out(x, gamma, beta, eps), *update(x, running_mean, running_var, momentum))
        return test_out(x, gamma, beta, running_mean, running_var, eps), running_mean, running_var
    return batchnorm_forward


def reference_solution(x, gamma, beta, running_mean, running_var, mode, momentum=0.1, eps=1e-5):
    """Written as a learner would, independently of the helpers above."""
    if mode == "train":
        mean, var = x.mean(axis=AX, keepdims=True), x.var(axis=AX, keepdims=True)
        m = x.shape[0] * x.shape[2] * x.shape[3]
        running_mean = (1 - momentum) * running_mean + momentum * mean.ravel()
        running_var = (1 - momentum) * running_var + momentum * var.ravel() * m / (m - 1)
    else:
        mean, var = running_mean[None, :, None, None], running_var[None, :, None, None]
    out = gamma[None, :, None, None] * (x - mean) / np.sqrt(var + eps) + beta[None, :, None, None]
    return out, running_mean, running_var


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("fn", [full(bn_right), reference_solution])
def test_batchnorm_right_passes(fn, hidden, capsys):
    check_batchnorm_forward(fn, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


def test_reference_matches_a_real_layer_over_several_steps():
    """The right answer is what nn.BatchNorm2d does: three train steps, then eval."""
    rng = np.random.default_rng(3)
    layer = nn.BatchNorm2d(3, momentum=0.2).double()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.normal_()
    gamma, beta = layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.normal(2, 3, (5, 3, 4, 4))
        out, rm, rv = reference_solution(x, gamma, beta, rm, rv, "train", momentum=0.2)
        assert np.allclose(out, layer.train()(torch.from_numpy(x)).detach().numpy())
    assert np.allclose(rm, layer.running_mean.numpy()) and np.allclose(rv, layer.running_var.numpy())
    out, _, _ = reference_solution(x, gamma, beta, rm, rv, "test", momentum=0.2)
    assert np.allclose(out, layer.eval()(torch.from_numpy(x)).detach().numpy())


def unchanged(x, running_mean, running_var, momentum):
    return running_mean, running_var


def swapped_momentum(x, running_mean, running_var, momentum):
    return running(x, running_mean, running_var, 1 - momentum)


def replaced(x, running_mean, running_var, momentum):
    return running(x, running_mean, running_var, 1.0)


def biased_running_var(x, running_mean, running_var, momentum):
    return ((1 - momentum) * running_mean + momentum * x.mean(axis=AX),
            (1 - momentum) * running_var + momentum * x.var(axis=AX))


def fixed_momentum(x, running_mean, running_var, momentum):   # ignores the argument
    return running(x, running_mean, running_var, 0.1)


def eval_with_batch_stats(x, gamma, beta, running_mean, running_var, eps):
    return bn_right(x, gamma, beta, eps)


def eval_eps_outside(x, gamma, beta, running_mean, running_var, eps):
    return (gamma[None, :, None, None] * (x - running_mean[None, :, None, None])
            / (np.sqrt(running_var[None, :, None, None]) + eps) + beta[None, :, None, None])


def eval_no_affine(x, gamma, beta, running_mean, running_var, eps):
    return eval_mode(x, np.ones_like(gamma), np.zeros_like(beta), running_mean, running_var, eps)


def updates_in_test_mode(x, gamma, beta, running_mean, running_var, mode, momentum=0.1, eps=1e-5):
    out, rm, rv = full(bn_right)(x, gamma, beta, running_mean, running_var, mode, momentum, eps)
    return (out, *running(x, running_mean, running_var, momentum)) if mode == "test" else (out, rm, rv)


def bn_stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("fn, match", [
    (bn_stub, "not implemented"),
    (full(bn_unbiased), "unbiased"),
    (full(bn_per_sample), "per-sample"),
    (full(bn_no_affine), "gamma and beta are missing"),
    (full(bn_no_beta), "beta is missing"),
    (full(bn_no_eps), "eps is missing"),
    (full(bn_eps_outside), "inside the square root"),
    (full(bn_torch_functional), "called torch.nn.functional.batch_norm"),
    (full(bn_torch_module), "called torch.nn.functional.batch_norm"),
    (full(bn_torch_tensor), "is a torch tensor"),
    (full(lambda x, g, b, eps: bn_right(x, g, b, eps).tolist()), "should be a NumPy array"),
    (full(lambda x, g, b, eps: bn_right(x, g, b, eps)[:, 0]), "keeps the shape"),
    (full(lambda x, g, b, eps: bn_right(x, g, b, eps) + 1), "differs from PyTorch's batch norm"),
    (lambda *a, **k: full(bn_right)(*a, **k)[0], "tuple of three arrays"),
    (lambda *a, **k: full(bn_right)(*a, **k)[:2], "of length 2"),
    (lambda *a, **k: ..., "not implemented"),
    (full(bn_right, update=unchanged), "came back unchanged"),
    (full(bn_right, update=swapped_momentum), "weight of the new batch"),
    (full(bn_right, update=replaced), "replaced by this batch"),
    (full(bn_right, update=biased_running_var), "biased variance"),
    (full(bn_right, update=fixed_momentum), "momentum 0.3"),
    (full(bn_right, update=lambda x, rm, rv, mom: (rm[:1], rv[:1])), "one value per channel"),
    (full(bn_right, test_out=eval_with_batch_stats), "running averages"),
    (full(bn_right, test_out=eval_eps_outside), "inside the square root in test mode"),
    (full(bn_right, test_out=eval_no_affine), "missing in test mode"),
    (full(bn_right, test_out=lambda *a: eval_mode(*a) * 2), "which statistics does test mode"),
    (updates_in_test_mode, "test mode only reads them"),
    (lambda *a, **k: (lambda r: (r[0], r[2], r[1]))(reference_solution(*a, **k)), "each other's place"),
    (full(bn_right, update=lambda x, rm, rv, mom: (running(x, rm, rv, mom)[0], rv)), "running_var differs"),
    (full(bn_right, update=lambda x, rm, rv, mom: (rm, rv)), "running_mean and running_var differs|came back unchanged"),
    (lambda x, g, b, rm, rv, mode, momentum=0.1, eps=1e-5: (lambda r: r if mode == "train" else
                                                            (r[0], r[1][None, :], r[2]))(
        reference_solution(x, g, b, rm, rv, mode, momentum, eps)), "in test mode the running_mean returned has shape"),
    (lambda x, g, b, rm, rv, mode, momentum=0.1, eps=1e-5: (lambda r: r if mode == "train" else
                                                            (r[0][:, :1], r[1], r[2]))(
        reference_solution(x, g, b, rm, rv, mode, momentum, eps)), "in test mode, for x of shape"),
    (full(bn_right, update=lambda x, rm, rv, mom: running(x, rm, rv, mom * 0.5)),
     "the weights of the old value and of the batch's statistic"),
])
def test_batchnorm_wrong_answers(fn, match):
    with pytest.raises(CheckFailed, match=match):
        check_batchnorm_forward(fn)


def test_torch_shortcuts_are_restored_after_the_check():
    saved = (F.batch_norm, torch.batch_norm, torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward)
    with pytest.raises(CheckFailed):
        check_batchnorm_forward(full(bn_torch_functional))
    check_batchnorm_forward(full(bn_right))
    assert (F.batch_norm, torch.batch_norm, torch.autograd.grad, torch.autograd.backward,
            torch.Tensor.backward) == saved
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    F.batch_norm(x, None, None, training=True).sum().backward()   # PyTorch works again
    assert x.grad is not None


def test_the_learner_cannot_change_the_checks_inputs():
    def mutating(x, gamma, beta, running_mean, running_var, mode, momentum=0.1, eps=1e-5):
        y = reference_solution(x.copy(), gamma.copy(), beta, running_mean.copy(), running_var, mode, momentum, eps)
        x[...] = 0
        gamma[...] = 0
        running_mean[...] = 0
        return y
    check_batchnorm_forward(mutating)


def test_in_place_running_updates_as_in_cs231n_pass():
    """Updating the arrays passed in (in place) and returning them works as well as new arrays."""
    def in_place(x, gamma, beta, running_mean, running_var, mode, momentum=0.1, eps=1e-5):
        out, rm, rv = reference_solution(x, gamma, beta, running_mean, running_var, mode, momentum, eps)
        running_mean[...], running_var[...] = rm, rv
        return out, running_mean, running_var
    check_batchnorm_forward(in_place)


# ------------------------------------------------------- exercise 2: the net's BN counts
def test_bn_exercise_net_facts():
    # the exercise: BatchNorm2d(32), BatchNorm2d(64), BatchNorm1d(128), a batch of 36 images 3x32x32
    net = bn_exercise_net()
    bns = [m for m in net.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert [b.num_features for b in bns] == [32, 64, 128] and isinstance(bns[2], nn.BatchNorm1d)
    assert net(torch.zeros(36, 3, 32, 32)).shape == (36, 10)
    right_p = sum(p.numel() for bn in bns for p in bn.parameters())
    right_b = sum(b.numel() for bn in bns for b in bn.buffers())
    assert (right_p, right_b) == (2 * 224, 2 * 224 + 3) == (448, 451)
    # the second BatchNorm2d sees (36, 64, 16, 16): m = 36 * 16 * 16; the BatchNorm1d (36, 128): m = 36
    feats = nn.Sequential(*list(net)[:5])(torch.zeros(36, 3, 32, 32))
    assert feats.shape == (36, 64, 16, 16)


def test_bn_counts(capsys):
    check_bn_counts(448, 451, 9216, 36)
    assert "all checks passed" in capsys.readouterr().out
    check_bn_counts(448.0, 451, 9216, 36.0)
    check_bn_counts(448, 451, 20 * 256, 20, batch=20)
    for answer, match in [
        ((..., 451, 9216, 36), "not implemented"), ((448, ..., 9216, 36), "not implemented"),
        ((896, 451, 9216, 36), "buffers, not parameters"), ((899, 451, 9216, 36), "buffers, not parameters"),
        ((224, 451, 9216, 36), "two learned vectors"), ((192, 451, 9216, 36), "BatchNorm1d after the Linear"),
        ((256, 451, 9216, 36), "all the batch-norm layers"), ((128, 451, 9216, 36), "BatchNorm2d\\(64\\)"),
        ((448.5, 451, 9216, 36), "whole number"), ((7, 451, 9216, 36), "summed over the layers"),
        ((448, 448, 9216, 36), "one integer per layer"), ((448, 449, 9216, 36), "each of the layers has its own"),
        ((448, 224, 9216, 36), "one value each"), ((448, 227, 9216, 36), "one value each"),
        ((448, 899, 9216, 36), "gamma and beta are parameters"), ((448, 194, 9216, 36), "same buffers"),
        ((448, 192, 9216, 36), "same buffers"), ((448, 129, 9216, 36), "BatchNorm2d\\(64\\)"),
        ((448, 7, 9216, 36), "named_buffers"),
        ((448, 451, 36, 36), "H and W as well"), ((448, 451, 256, 36), "the N images too"),
        ((448, 451, 36864, 36), "after the first max-pooling"), ((448, 451, 2304, 36), "before pooling"),
        ((448, 451, 9216 * 64, 36), "ONE channel"), ((448, 451, 9215, 36), "unbiased variance"),
        ((448, 451, 7, 36), "N \\* H \\* W at that layer"),
        ((448, 451, 9216, 128), "number of features"), ((448, 451, 9216, 36 * 128), "one mean per feature"),
        ((448, 451, 9216, 9216), "no H and W"), ((448, 451, 9216, 1), "over the batch, not over one image"),
        ((448, 451, 9216, 35), "unbiased variance"), ((448, 451, 9216, 7), "over the batch"),
    ]:
        with pytest.raises(CheckFailed, match=match):
            check_bn_counts(*answer)


def test_exercise3_mark_scheme():
    """The facts exercise 3's mark scheme rests on: conv weights and bias x 10 before a
    BatchNorm2d in train() leave its output unchanged (up to eps) and divide dL/dW by 10."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 6, 6, dtype=torch.float64)
    target = torch.randn(8, 4, 6, 6, dtype=torch.float64)

    def run(scale):
        conv = nn.Conv2d(3, 4, 3, padding=1).double()
        torch.manual_seed(1)
        conv.reset_parameters()
        with torch.no_grad():
            conv.weight.mul_(scale)
            conv.bias.mul_(scale)
        bn = nn.BatchNorm2d(4).double().train()
        y = bn(conv(x))
        ((y - target) ** 2).mean().backward()
        return y.detach(), conv.weight.grad

    y1, g1 = run(1.0)
    y10, g10 = run(10.0)
    assert (y10 - y1).abs().max() < 1e-4                      # (a) the same output, up to eps
    rel = ((g10 * 10 - g1).abs().max() / g1.abs().max()).item()
    assert rel < 1e-3, rel                                    # (b) dL/dW 10 times smaller, same direction


# ------------------------------------------------------------------ residual block
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
    mean = x.mean(axis=AX, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=AX, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    dxhat = dout * gamma[None, :, None, None]
    dx = inv_std * (dxhat - dxhat.mean(axis=AX, keepdims=True) - xhat * (dxhat * xhat).mean(axis=AX, keepdims=True))
    return dx, (dout * xhat).sum(axis=AX), dout.sum(axis=AX)


def _std(x, eps=1e-5):
    return np.sqrt(x.var(axis=AX, keepdims=True) + eps)


def bnb_constant_stats(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    return dout * gamma[None, :, None, None] / _std(x, eps), dg, db


def bnb_no_var_term(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    dxhat = dout * gamma[None, :, None, None]
    return (dxhat - dxhat.mean(axis=AX, keepdims=True)) / _std(x, eps), dg, db


def bnb_no_mean_term(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    dxhat = dout * gamma[None, :, None, None]
    xhat = (x - x.mean(axis=AX, keepdims=True)) / _std(x, eps)
    return (dxhat - xhat * (dxhat * xhat).mean(axis=AX, keepdims=True)) / _std(x, eps), dg, db


def bnb_m_minus_1(dout, x, gamma, eps=1e-5):   # the mean's terms divided by m - 1 instead of m
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    m = x.size // x.shape[1]
    dxhat = dout * gamma[None, :, None, None]
    xhat = (x - x.mean(axis=AX, keepdims=True)) / _std(x, eps)
    return ((m * dxhat - dxhat.sum(axis=AX, keepdims=True) - xhat * (dxhat * xhat).sum(axis=AX, keepdims=True))
            / ((m - 1) * _std(x, eps)), dg, db)


def bnb_scaled(dout, x, gamma, eps=1e-5):   # a wrong dx no hint knows
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    return dx * 1.5, dg, db


def bnb_dgamma_is_dbeta(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    return dx, db.copy(), db


def bnb_dgamma_unbiased(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    xhat_u = (x - x.mean(axis=AX, keepdims=True)) / np.sqrt(x.var(axis=AX, ddof=1, keepdims=True) + eps)
    return dx, (dout * xhat_u).sum(axis=AX), db


def bnb_dbeta_all(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    return dx, dg, db * 0 + dout.sum()


def bnb_dbeta_sign(dout, x, gamma, eps=1e-5):
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    return dx, dg, -db


def bnb_no_sums(dout, x, gamma, eps=1e-5):   # forgot to sum dgamma over N, H, W
    dx, dg, db = bnb_right(dout, x, gamma, eps)
    xhat = (x - x.mean(axis=AX, keepdims=True)) / _std(x, eps)
    return dx, dout * xhat, db


def bnb_no_gamma(dout, x, gamma, eps=1e-5):
    return bnb_right(dout, x, np.ones_like(gamma), eps)


def bnb_autograd(dout, x, gamma, eps=1e-5):   # PyTorch's autograd, handed back as arrays
    xt, gt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(gamma).requires_grad_(True)
    xhat = (xt - xt.mean(dim=AX, keepdim=True)) / torch.sqrt(xt.var(dim=AX, unbiased=False, keepdim=True) + eps)
    y = gt[None, :, None, None] * xhat
    y.backward(torch.from_numpy(dout))
    return xt.grad.numpy(), gt.grad.numpy(), dout.sum(axis=AX)


def bnb_autograd_grad(dout, x, gamma, eps=1e-5):
    xt = torch.from_numpy(x).requires_grad_(True)
    y = torch.from_numpy(gamma)[None, :, None, None] * ((xt - xt.mean(dim=AX, keepdim=True))
                                                        / torch.sqrt(xt.var(dim=AX, unbiased=False, keepdim=True) + eps))
    dx, = torch.autograd.grad(y, (xt,), torch.from_numpy(dout))
    return dx.numpy(), *bnb_right(dout, x, gamma, eps)[1:]


def bnb_tensors(dout, x, gamma, eps=1e-5):
    return tuple(torch.from_numpy(np.ascontiguousarray(g)) for g in bnb_right(dout, x, gamma, eps))


def bnb_stub(dout, x, gamma, eps=1e-5):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_batchnorm_backward_right_passes(hidden, capsys):
    check_batchnorm_backward(bnb_right, hidden=hidden)
    out = capsys.readouterr().out
    assert "all checks passed" in out and "numerical gradient check" in out and "below 1e-6" in out


def test_numerical_gradient_agrees_with_autograd():
    from cnnlib.checks.core import relative_error
    from cnnlib.checks.deep_nets import _bn_backward_reference, _numerical_dx
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 2, 2, generator=g, dtype=torch.float64).numpy()
    gamma = (torch.rand(2, generator=g, dtype=torch.float64) + 0.5).numpy()
    dout = torch.randn(3, 2, 2, 2, generator=g, dtype=torch.float64).numpy()
    assert relative_error(_numerical_dx(dout, x, gamma, 1e-5), _bn_backward_reference(dout, x, gamma, 1e-5)[0]) < 1e-7
    assert relative_error(bnb_right(dout, x, gamma)[0], _bn_backward_reference(dout, x, gamma, 1e-5)[0]) < 1e-10


def test_a_wrong_dx_is_reported_by_the_numerical_check(capsys):
    with pytest.raises(CheckFailed):
        check_batchnorm_backward(bnb_constant_stats)
    assert "a right dx gives less than 1e-6" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    (bnb_stub, "not implemented"),
    (lambda d, x, g, eps=1e-5: ..., "not implemented"),
    (bnb_constant_stats, "mean and variance as constants"),
    (bnb_no_var_term, "through the variance"),
    (bnb_no_mean_term, "through the mean"),
    (bnb_m_minus_1, "divide by m = N\\*H\\*W"),
    (bnb_scaled, "dx differs from the true gradient"),
    (bnb_dgamma_is_dbeta, "it equals dbeta"),
    (bnb_dgamma_unbiased, "biased variance"),
    (bnb_dbeta_all, "dbeta is wrong"),
    (bnb_dbeta_sign, "sign"),
    (bnb_no_sums, "sum over N, H and W"),
    (bnb_no_gamma, "gamma is missing"),
    (bnb_autograd, "called Tensor.backward"),
    (bnb_autograd_grad, "called torch.autograd.grad"),
    (bnb_tensors, "is a torch tensor"),
    (lambda d, x, g, eps=1e-5: bnb_right(d, x, g, eps)[:2], "tuple of three"),
    (lambda d, x, g, eps=1e-5: (bnb_right(d, x, g, eps)[0], d.sum(), d.sum()), "should be a NumPy array"),
    (lambda d, x, g, eps=1e-5: (bnb_right(d, x, g, eps)[0], d.sum(axis=0), d.sum(axis=0)), "shape of gamma"),
])
def test_batchnorm_backward_mistakes(fn, match):
    with pytest.raises(CheckFailed, match=match):
        check_batchnorm_backward(fn)


# ------------------------------------------------- no answer given away (tests in main)
LEAK_CASES = [
    (check_batchnorm_forward, (full(bn_unbiased),), {}, ["ddof=0, keepdims", "expected"]),
    (check_batchnorm_forward, (full(lambda x, g, b, eps: bn_right(x, g, b, eps)[:, 0]),), {}, ["expected (4, 3, 5, 5)"]),
    (check_batchnorm_forward, (full(bn_per_sample),), {}, ["expected"]),
    (check_batchnorm_forward, (full(bn_torch_functional),), {}, ["sqrt(var + eps)", "expected"]),
    (check_batchnorm_forward, (full(bn_torch_tensor),), {}, ["sqrt(var + eps)", "expected"]),
    (check_batchnorm_forward, (full(bn_right, update=biased_running_var),), {}, ["m / (m - 1)", "0.9 *", "0.7 *"]),
    (check_batchnorm_forward, (full(bn_right, update=swapped_momentum),), {}, ["(1 - momentum) *", "0.9 *"]),
    (check_batchnorm_forward, (full(bn_right, test_out=eval_with_batch_stats),), {}, ["running_mean[None",
                                                                                    "sqrt(running_var + eps)"]),
    (check_bn_counts, (224, 451, 9216, 36), {}, ["448"]),
    (check_bn_counts, (896, 451, 9216, 36), {}, ["448"]),
    (check_bn_counts, (448, 448, 9216, 36), {}, ["451"]),
    (check_bn_counts, (448, 449, 9216, 36), {}, ["451"]),
    (check_bn_counts, (448, 451, 36, 36), {}, ["9216", "16 * 16", "16x16"]),
    (check_bn_counts, (448, 451, 2304, 36), {}, ["9216", "16 * 16", "16x16"]),
    (check_bn_counts, (448, 451, 9216, 128), {}, ["m = N", "= 36"]),
    (check_bn_counts, (448, 451, 9216, 36 * 128), {}, ["m = N", "= 36"]),
    (check_bn_counts, (128, 129, 1, 1), {}, ["448", "451", "9216"]),
    (check_batchnorm_backward, (bnb_constant_stats,), {}, ["expected"]),
    (check_batchnorm_backward, (bnb_dgamma_is_dbeta,), {}, ["expected"]),
    (check_batchnorm_backward, (bnb_autograd,), {}, ["mean(dx_hat", "expected"]),
    (check_batchnorm_backward, (lambda d, x, g, eps=1e-5: (bnb_right(d, x, g, eps)[0], d.sum(axis=0), d.sum(axis=0)),),
     {}, ["(2,)"]),
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
    (check_batchnorm_forward, (full(lambda x, g, b, eps: x * 0 + 1),), {}, ["sqrt(var + eps) + beta"]),
    (check_batchnorm_forward, (full(bn_right, update=lambda x, rm, rv, mom: (rm * 0 + 1, rv * 0 + 1)),), {},
     ["(1 - momentum) * running", "momentum * "]),
    (check_batchnorm_backward, (bnb_constant_stats,), {}, ["mean(dx_hat * x_hat)", "mean(dx_hat)"]),
    (check_batchnorm_backward, (lambda d, x, g, eps=1e-5: (bnb_right(d, x, g, eps)[0] * 0.5,
                                                          *bnb_right(d, x, g, eps)[1:]),), {},
     ["mean(dx_hat", "dx = ("]),
    (check_batchnorm_backward, (bnb_no_sums,), {}, ["dout * x_hat summed", ".sum(axis=(0, 2, 3))"]),
    (check_batchnorm_backward, (bnb_dgamma_is_dbeta,), {}, ["dout * x_hat summed", "sum over N, H, W of dout"]),
]

EXERCISE_ANSWERS = {
    # m_linear (36) is the batch size the question states: what it tests is that m = N there
    "09_batchnorm_dropout_init.ipynb": {"ex2-answer": ["448", "451", "9216"]},
    "10_resnet.ipynb": {"ex1-answer": ["230144"]},
    "11_densenet.ipynb": {"ex1-answer": ["216", "108", "26"],
                          "ex3-answer": ["1504", "1936", "428", "860"]},   # predict-then-argue, by hand
}

# LEAK_CASES are run by tests/test_checks_no_leak.py (whole numbers matched as numbers).


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

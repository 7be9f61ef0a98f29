"""cnnlib.checks.modern_cnns (notebooks 06-08): right answers pass, stubs fail with the
not-implemented message, typical wrong answers fail with their hint."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnlib.checks import CheckFailed
from cnnlib.checks.modern_cnns import (
    check_grouped_conv_params,
    check_inception_block,
    check_inception_savings,
    check_local_response_norm,
    check_stacked_rf,
    check_vgg16_fc6_params,
)
from cnnlib.models.googlenet import Inception, conv_unit

NOT_DONE = "not implemented yet"


# ---------------------------------------------------------------- exercise 06.1: grouped conv params
def test_grouped_conv_params(capsys):
    check_grouped_conv_params(3 * 3 * 192 * 384 + 384)
    check_grouped_conv_params(663_936.0)
    check_grouped_conv_params(torch.tensor(663_936))
    assert "conv4_params: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer,hint", [
    (..., NOT_DONE),
    (None, NOT_DONE),
    (3 * 3 * 384 * 384 + 384, "full convolution"),
    (3 * 3 * 192 * 384, "add the biases"),
    (3 * 3 * 192 * 384 + 192, "its own bias"),
    (3 * 3 * 192 * 192 + 192, "one GPU's half"),
    (12345, r"C_in / groups"),
    ("663936", "whole number"),
])
def test_grouped_conv_params_wrong(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_grouped_conv_params(answer)


# ---------------------------------------------------------------- exercise 06.2: LRN
def lrn_right(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    sq = F.pad(a ** 2, (0, 0, 0, 0, n // 2, (n - 1) // 2))
    sums = torch.stack([sq[:, c:c + n].sum(dim=1) for c in range(a.shape[1])], dim=1)
    return a / (k + alpha * sums) ** beta


def lrn_mean(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return lrn_right(a, n, k, alpha / n, beta)


def lrn_no_beta(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return lrn_right(a, n, k, alpha, 1.0)


def lrn_forward_window(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    sq = F.pad(a ** 2, (0, 0, 0, 0, 0, n - 1))
    sums = torch.stack([sq[:, c:c + n].sum(dim=1) for c in range(a.shape[1])], dim=1)
    return a / (k + alpha * sums) ** beta


def lrn_unsquared(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    sq = F.pad(a, (0, 0, 0, 0, n // 2, (n - 1) // 2))
    sums = torch.stack([sq[:, c:c + n].sum(dim=1) for c in range(a.shape[1])], dim=1)
    return a / (k + alpha * sums) ** beta


def lrn_spatial(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return a / (k + alpha * F.avg_pool2d(a ** 2, n, stride=1, padding=n // 2) * n * n) ** beta


def lrn_builtin(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return nn.LocalResponseNorm(n, alpha * n, beta, k)(a)


def lrn_stub(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    raise NotImplementedError()


def test_local_response_norm_right(capsys):
    check_local_response_norm(lrn_right)
    check_local_response_norm(lrn_right, hidden=True)
    assert "local_response_norm: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("fn,hint", [
    (lrn_stub, NOT_DONE),
    (lrn_mean, "divided alpha by n"),
    (lrn_no_beta, "power beta is missing"),
    (lrn_forward_window, "centred on channel c"),
    (lrn_unsquared, "square the activations"),
    (lrn_spatial, "neighbouring \\*channels\\*"),
    (lrn_builtin, "without nn.LocalResponseNorm"),
    (lambda a, n=5, k=2.0, alpha=1e-4, beta=0.75: a, "differs from the paper's formula"),
    (lambda a, n=5, k=2.0, alpha=1e-4, beta=0.75: a[:, :1], "keeps the shape"),
    (lambda a, n=5, k=2.0, alpha=1e-4, beta=0.75: a.tolist(), "expected a tensor"),
])
def test_local_response_norm_wrong(fn, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_local_response_norm(fn)


def test_local_response_norm_wrap_around_is_diagnosed():
    def wrapped(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
        sums = sum(torch.roll(a ** 2, s, dims=1) for s in range(-(n // 2), n // 2 + 1))
        return a / (k + alpha * sums) ** beta

    with pytest.raises(CheckFailed, match="do not wrap around"):
        check_local_response_norm(wrapped)


# ---------------------------------------------------------------- exercise 07.1: stacked receptive field
def test_stacked_rf(capsys):
    check_stacked_rf(lambda n, k=3: 1 + n * (k - 1))
    check_stacked_rf(lambda n, k=3: 1 + n * (k - 1), hidden=True)
    assert "stacked_rf: all checks passed" in capsys.readouterr().out


def _rf_stub(n, k=3):
    raise NotImplementedError()


@pytest.mark.parametrize("fn,hint", [
    (_rf_stub, NOT_DONE),
    (lambda n, k=3: n * k, "overlap"),
    (lambda n, k=3: n * (k - 1), "start from one pixel"),
    (lambda n, k=3: 2 * n + 1, "not 3"),
    (lambda n, k=3: k ** n if n > 1 else k, "not by multiplying"),
    (lambda n, k=3: 0, r"1 \+ n \* \(k - 1\)"),
])
def test_stacked_rf_wrong(fn, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_stacked_rf(fn, hidden=True)


# ---------------------------------------------------------------- exercise 07.2: VGG16 fc6
def test_vgg16_fc6_params(capsys):
    check_vgg16_fc6_params(7 * 7 * 512 * 4096 + 4096)
    assert "fc6_params: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer,hint", [
    (..., NOT_DONE),
    (7 * 7 * 512 * 4096, "add one bias"),
    (14 * 14 * 512 * 4096 + 4096, "fifth pooling"),
    (512 * 4096 + 4096, "25,088 inputs"),
    (4096 * 4096 + 4096, "that is fc7"),
    (6 * 6 * 512 * 4096 + 4096, "AlexNet's 6x6"),
    (1, "inputs = 7 \\* 7 \\* 512"),
])
def test_vgg16_fc6_params_wrong(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_vgg16_fc6_params(answer)


# ---------------------------------------------------------------- exercise 08.1: Inception block
class Right(nn.Module):
    def __init__(self, in_channels, c1, c3, c5, pool_proj):
        super().__init__()
        self.b1 = conv_unit(in_channels, c1, 1)
        self.b2 = nn.Sequential(conv_unit(in_channels, c3[0], 1), conv_unit(c3[0], c3[1], 3, padding=1))
        self.b3 = nn.Sequential(conv_unit(in_channels, c5[0], 1), conv_unit(c5[0], c5[1], 5, padding=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_unit(in_channels, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class Stub(nn.Module):
    def __init__(self, in_channels, c1, c3, c5, pool_proj):
        super().__init__()
        raise NotImplementedError()


class BatchAxis(Right):
    def forward(self, x):
        return torch.cat([self.b1(x), self.b1(x)], dim=0)


class NoProjection(Right):
    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4[0](x)], dim=1)


class Shrinks(Right):
    def __init__(self, in_channels, c1, c3, c5, pool_proj):
        super().__init__(in_channels, c1, c3, c5, pool_proj)
        self.b2[1][0].padding = (0, 0)

    def forward(self, x):
        a = self.b2(x)
        return torch.cat([F.interpolate(b, size=a.shape[-2:]) for b in (self.b1(x), self.b3(x), self.b4(x))] + [a], 1)


class WrongOrder(Right):
    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b2(x), self.b4(x)], dim=1)


class NoRelu(Right):
    def forward(self, x):
        return torch.cat([self.b1[0](x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class NoReductions(Right):
    def __init__(self, in_channels, c1, c3, c5, pool_proj):
        super().__init__(in_channels, c1, c3, c5, pool_proj)
        self.b2 = conv_unit(in_channels, c3[1], 3, padding=1)
        self.b3 = conv_unit(in_channels, c5[1], 5, padding=2)


class NoBias(Right):
    def __init__(self, in_channels, c1, c3, c5, pool_proj):
        super().__init__(in_channels, c1, c3, c5, pool_proj)
        self.b1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1, bias=False), nn.ReLU())


class Unused(Right):
    def __init__(self, in_channels, c1, c3, c5, pool_proj):
        super().__init__(in_channels, c1, c3, c5, pool_proj)
        self.spare = nn.Linear(3, 1)   # 4 parameters, as many as the bias it drops from b1
        self.b1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1, bias=False), nn.ReLU())


class ReturnsList(Right):
    def forward(self, x):
        return [self.b1(x), self.b2(x), self.b3(x), self.b4(x)]


def test_inception_block_right(capsys):
    check_inception_block(Right)
    check_inception_block(Right, hidden=True)
    check_inception_block(Inception, hidden=True)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("cls,hint", [
    (Stub, NOT_DONE),
    (BatchAxis, "not the batch axis"),
    (NoProjection, "1x1 projection"),
    (Shrinks, "keep the size"),
    (WrongOrder, "order 1x1, 3x3, 5x5, pool"),
    (NoRelu, "followed by a ReLU"),
    (NoReductions, "reductions"),
    (NoBias, "a weight and a bias"),
    (Unused, "no gradient reaches"),
    (ReturnsList, "return one tensor"),
])
def test_inception_block_wrong(cls, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_inception_block(cls)


# ---------------------------------------------------------------- exercise 08.2: savings of 3b
WITH = 256 * 128 + 256 * 128 + 9 * 128 * 192 + 256 * 32 + 25 * 32 * 96 + 256 * 64
WITHOUT = 256 * 128 + 9 * 256 * 192 + 25 * 256 * 96


def test_inception_savings(capsys):
    assert (WITH, WITHOUT) == (388_096, 1_089_536)
    check_inception_savings((WITH, WITHOUT))
    check_inception_savings([float(WITH), WITHOUT])
    assert "savings: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer,hint", [
    (..., NOT_DONE),
    ((WITHOUT, WITH), "the order is"),
    ((WITH + 640, WITHOUT + 416), "no biases"),
    ((WITH, WITHOUT + 256 * 64), "no 1x1 projection after the pooling"),
    ((163_328, 387_072), "block 3a's numbers"),
    ((WITH - 256 * 64, WITHOUT), "part of the block"),
    ((1, 2), "k \\* k \\* C_in \\* C_out"),
    (WITH, "should be a pair"),
])
def test_inception_savings_wrong(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_inception_savings(answer)


def test_local_response_norm_without_source_is_still_checked():
    # a callable object has no source to inspect: the values alone decide
    class Functor:
        def __call__(self, a, n=5, k=2.0, alpha=1e-4, beta=0.75):
            return lrn_right(a, n, k, alpha, beta)

    check_local_response_norm(Functor())


class MissingBranch(Right):
    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b4(x)], dim=1)


def test_inception_block_missing_branch():
    with pytest.raises(CheckFailed, match="concatenate the four branch outputs"):
        check_inception_block(MissingBranch)

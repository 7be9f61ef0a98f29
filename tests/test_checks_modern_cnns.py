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
    check_vgg16_fc6_params,
    check_vgg_rf,
)
from cnnlib.models.googlenet import Inception, conv_unit

NOT_DONE = "not implemented yet"
CONV5 = 5 * 5 * (384 // 8) * 384 + 384          # 5x5, 384 -> 384, groups=8, with biases (exercise 06.1)
FC6_288 = 9 * 9 * 512 * 4096 + 4096             # VGG-16 fc6 for 288x288 without adaptive pooling


# ---------------------------------------------------------------- exercise 06.1: grouped conv params
def test_grouped_conv_params(capsys):
    assert CONV5 == sum(p.numel() for p in nn.Conv2d(384, 384, 5, padding=2, groups=8).parameters())
    check_grouped_conv_params(CONV5)
    check_grouped_conv_params(float(CONV5))
    check_grouped_conv_params(torch.tensor(CONV5))
    assert "conv_params: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer,hint", [
    (..., NOT_DONE),
    (None, NOT_DONE),
    (5 * 5 * 384 * 384 + 384, "full convolution"),
    (5 * 5 * 384 * 384, "full convolution without biases"),
    (5 * 5 * 192 * 384 + 384, "groups=2"),
    (5 * 5 * 96 * 384 + 384, "groups=4"),
    (5 * 5 * 48 * 384, "add the biases"),
    (5 * 5 * 48 * 384 + 48, "its own bias"),
    (5 * 5 * 48 * 48 + 48, "one GPU's share"),
    (5 * 5 * 48 * 48 + 384, "eight groups"),
    (3 * 3 * 48 * 384 + 384, "5x5 here"),
    (12345, "not a typical slip"),
    ("461184", "whole number"),
])
def test_grouped_conv_params_wrong(answer, hint, capsys):
    with pytest.raises(CheckFailed, match=hint) as err:
        check_grouped_conv_params(answer)
    if answer != str(CONV5):   # a string answer is shown back as the learner typed it
        assert str(CONV5) not in str(err.value).replace(",", "") + capsys.readouterr().out


# ---------------------------------------------------------------- exercise 06.2: LRN, no Python loop
def _window(sq, n, before):
    """Loop-free sums of n consecutive channels of sq, window starting ``before`` channels early."""
    after = n - 1 - before
    padded = F.pad(sq, (0, 0, 0, 0, before + 1, after))
    run = torch.cumsum(padded, dim=1)
    return run[:, n:] - run[:, :-n]


def lrn_right(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return a / (k + alpha * _window(a ** 2, n, n // 2)) ** beta


def lrn_looped(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    sq = F.pad(a ** 2, (0, 0, 0, 0, n // 2, (n - 1) // 2))
    sums = torch.stack([sq[:, c:c + n].sum(dim=1) for c in range(a.shape[1])], dim=1)
    return a / (k + alpha * sums) ** beta


def lrn_mean(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return lrn_right(a, n, k, alpha / n, beta)


def lrn_no_beta(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return lrn_right(a, n, k, alpha, 1.0)


def lrn_forward_window(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return a / (k + alpha * _window(a ** 2, n, 0)) ** beta


def lrn_unsquared(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return a / (k + alpha * _window(a, n, n // 2)) ** beta


def lrn_spatial(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return a / (k + alpha * F.avg_pool2d(a ** 2, n, stride=1, padding=n // 2) * n * n) ** beta


def lrn_builtin(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return nn.LocalResponseNorm(n, alpha * n, beta, k)(a)


def lrn_stub(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    raise NotImplementedError()


def lrn_identity(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    return a


def test_local_response_norm_right(capsys):
    a = torch.rand(2, 7, 3, 3) * 20
    for n in (3, 4, 5):   # the reference helper itself, odd and even windows, against PyTorch
        assert torch.allclose(lrn_right(a, n), lrn_builtin(a, n), rtol=1e-5)
    check_local_response_norm(lrn_right)
    check_local_response_norm(lrn_right, hidden=True)
    assert "local_response_norm: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("fn,hint", [
    (lrn_stub, NOT_DONE),
    (lrn_looped, "without a Python loop"),
    (lrn_mean, "divided alpha by n"),
    (lrn_no_beta, "power beta is missing"),
    (lrn_forward_window, "centred on channel c"),
    (lrn_unsquared, "square the activations"),
    (lrn_spatial, "neighbouring \\*channels\\*"),
    (lrn_builtin, "without nn.LocalResponseNorm"),
    (lrn_identity, "differs from the paper's formula"),
    (lambda a, n=5, k=2.0, alpha=1e-4, beta=0.75: a[:, :1], "keeps the shape"),
    (lambda a, n=5, k=2.0, alpha=1e-4, beta=0.75: a.tolist(), "expected a tensor"),
])
def test_local_response_norm_wrong(fn, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_local_response_norm(fn)


def test_local_response_norm_wrap_around_is_diagnosed():
    def wrapped(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
        sums = torch.roll(a ** 2, 2, 1) + torch.roll(a ** 2, 1, 1) + a ** 2 + torch.roll(a ** 2, -1, 1) \
            + torch.roll(a ** 2, -2, 1)
        return a / (k + alpha * sums) ** beta

    with pytest.raises(CheckFailed, match="do not wrap around"):
        check_local_response_norm(wrapped)


# ---------------------------------------------------------------- exercise 07.1: receptive field of VGG blocks
def vgg_rf_right(convs_per_block):
    rf, jump = 1, 1
    for convs in convs_per_block:
        rf += convs * 2 * jump + jump
        jump *= 2
    return rf


def test_vgg_rf_matches_cnnlib_shapes():
    from cnnlib.models.vgg import VGG_CONFIGS
    from cnnlib.shapes import receptive_field

    for cfg in VGG_CONFIGS.values():
        blocks = [n for n, _ in cfg]
        layers = [item for n in blocks for item in [(3, 1, 1)] * n + [(2, 2, 0)]]
        assert vgg_rf_right(blocks) == receptive_field(layers)[-1].size


def test_vgg_rf(capsys):
    check_vgg_rf(vgg_rf_right)
    check_vgg_rf(vgg_rf_right, hidden=True)
    assert "vgg_rf: all checks passed" in capsys.readouterr().out


def _rf_stub(convs_per_block):
    raise NotImplementedError()


def _no_pool(b):
    rf, jump = 1, 1
    for convs in b:
        rf += convs * 2 * jump
        jump *= 2
    return rf


def _pool_first(b):
    rf, jump = 1, 1
    for convs in b:
        jump *= 2
        rf += convs * 2 * jump + jump
    return rf


@pytest.mark.parametrize("fn,hint", [
    (_rf_stub, NOT_DONE),
    (lambda b: 1 + 2 * sum(b) + len(b), "jump seems to stay 1"),
    (lambda b: 1 + 2 * sum(b), "both are wrong"),
    (_no_pool, "pooling also widens"),
    (_pool_first, "after\\* the pooling"),
    (lambda b: vgg_rf_right(b) - 1, "off by one"),
    (lambda b: 0, "not a typical slip"),
])
def test_vgg_rf_wrong(fn, hint, capsys):
    with pytest.raises(CheckFailed, match=hint) as err:
        check_vgg_rf(fn, hidden=True)
    assert "18" not in str(err.value).split("returned")[-1]   # vgg_rf([1, 3]), the first case, is 18


def test_vgg_rf_refuses_cnnlib_shapes():
    def uses_library(b):
        from cnnlib.shapes import receptive_field
        return receptive_field([(3, 1, 1)])[-1].size

    with pytest.raises(CheckFailed, match="without cnnlib.shapes"):
        check_vgg_rf(uses_library)


# ---------------------------------------------------------------- exercise 07.2: VGG16 fc6 at 288x288
def test_vgg16_fc6_params(capsys):
    from cnnlib.models.vgg import vgg16
    with torch.device("meta"):
        features = vgg16().features
    side = features(torch.zeros(1, 3, 288, 288, device="meta")).shape[-1]
    assert FC6_288 == sum(p.numel() for p in nn.Linear(side * side * 512, 4096).parameters())
    check_vgg16_fc6_params(FC6_288)
    assert "fc6_params: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer,hint", [
    (..., NOT_DONE),
    (9 * 9 * 512 * 4096, "add one bias"),
    (7 * 7 * 512 * 4096 + 4096, "224x224"),
    (7 * 7 * 512 * 4096, "224x224 without biases"),
    (18 * 18 * 512 * 4096 + 4096, "count VGG-16's poolings"),
    (9 * 512 * 4096 + 4096, "a height and a width"),
    (512 * 4096 + 4096, "not 512"),
    (4096 * 4096 + 4096, "that is fc7"),
    (288 * 288 * 3 * 4096 + 4096, "not the image"),
    (1, "not a typical slip"),
])
def test_vgg16_fc6_params_wrong(answer, hint):
    with pytest.raises(CheckFailed, match=hint) as err:
        check_vgg16_fc6_params(answer)
    assert "169873408" not in str(err.value).replace(",", "")


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


# ---------------------------------------------------------------- exercise 08.2: 4b's branches on 480 channels
WITH = 480 * 160 + 480 * 112 + 9 * 112 * 224 + 480 * 24 + 25 * 24 * 64 + 480 * 64
WITHOUT = 480 * 160 + 9 * 480 * 224 + 25 * 480 * 64


def test_inception_savings(capsys):
    from cnnlib.models.googlenet import INCEPTION_CONFIGS, NaiveInception

    def weights(m):
        return sum(c.weight.numel() for c in m.modules() if isinstance(c, nn.Conv2d))

    _, c1, c3, c5, proj = INCEPTION_CONFIGS["4b"]
    assert (c1, c3, c5, proj) == (160, (112, 224), (24, 64), 64)
    assert (WITH, WITHOUT) == (weights(Inception(480, c1, c3, c5, proj)), weights(NaiveInception(480, 160, 224, 64)))
    check_inception_savings((WITH, WITHOUT))
    check_inception_savings([float(WITH), WITHOUT])
    assert "savings: all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer,hint", [
    (..., NOT_DONE),
    ((WITHOUT, WITH), "the order is"),
    ((WITH + 648, WITHOUT + 448), "no biases"),
    ((WITH, WITHOUT + 480 * 64), "no 1x1 projection after the pooling"),
    ((388_096, 1_089_536), "block 3b's numbers"),
    ((WITH + 32 * 360, WITHOUT + 32 * 3776), "own 512 input channels"),
    ((WITH - 480 * 64, WITHOUT), "part of the block"),
    ((1, 2), "not a typical slip"),
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


class NoReductionReLU(Right):
    """The reductions without their ReLUs: every output is still >= 0 and the parameter count is right."""
    def __init__(self, in_channels, c1, c3, c5, pool_proj):
        super().__init__(in_channels, c1, c3, c5, pool_proj)
        self.b2 = nn.Sequential(nn.Conv2d(in_channels, c3[0], 1), conv_unit(c3[0], c3[1], 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(in_channels, c5[0], 1), conv_unit(c5[0], c5[1], 5, padding=2))


def test_inception_block_without_relus_after_the_reductions():
    with pytest.raises(CheckFailed, match="1x1 reductions"):
        check_inception_block(NoReductionReLU)


def test_inception_block_missing_branch():
    with pytest.raises(CheckFailed, match="concatenate the four branch outputs"):
        check_inception_block(MissingBranch)


# ---------------------------------------------------------------- no answer leaks (tests/test_checks_no_leak.py)
# the procedure itself must not be handed over either
GROUPED_PROCEDURE = ["kH * kW", "C_in / groups) * C_out", "plus one bias per filter"]
RF_PROCEDURE = ["start from rf = 1, jump = 1", "adds 2 * jump", "then doubles jump"]
FC6_PROCEDURE = ["288 / 2**5", "side * side * 512", "inputs * outputs + outputs", "five poolings"]
LEAK_CASES = [
    (check_grouped_conv_params, (5 * 5 * 384 * 384 + 384,), {}, [str(CONV5)] + GROUPED_PROCEDURE),
    (check_grouped_conv_params, (5 * 5 * 48 * 384,), {}, [str(CONV5)] + GROUPED_PROCEDURE),
    (check_grouped_conv_params, (5 * 5 * 192 * 384 + 384,), {}, [str(CONV5)] + GROUPED_PROCEDURE),
    (check_grouped_conv_params, (1000,), {}, [str(CONV5)] + GROUPED_PROCEDURE),
    (check_local_response_norm, (lrn_mean,), {}, []),
    (check_local_response_norm, (lrn_looped,), {}, []),
    (check_local_response_norm, (lrn_identity,), {}, []),
    (check_vgg_rf, (lambda b: 1 + 2 * sum(b) + len(b),), {}, ["18"]),
    (check_vgg_rf, (_no_pool,), {}, ["18"]),
    (check_vgg_rf, (lambda b: 0,), {}, ["18"] + RF_PROCEDURE),
    (check_vgg_rf, (lambda b: 3,), {}, ["18"] + RF_PROCEDURE),
    (check_vgg16_fc6_params, (7 * 7 * 512 * 4096 + 4096,), {}, [str(FC6_288)]),
    (check_vgg16_fc6_params, (9 * 9 * 512 * 4096,), {}, [str(FC6_288)]),
    (check_vgg16_fc6_params, (1,), {}, [str(FC6_288), "9 * 9", "81"] + FC6_PROCEDURE),
    (check_vgg16_fc6_params, ((288 // 16) ** 2 * 512 * 4096 + 4096,), {}, [str(FC6_288)] + FC6_PROCEDURE),
    (check_vgg16_fc6_params, (9 * 512 * 4096 + 4096,), {}, [str(FC6_288)] + FC6_PROCEDURE),
    (check_vgg16_fc6_params, (512 * 4096 + 4096,), {}, [str(FC6_288)] + FC6_PROCEDURE),
    (check_inception_block, (NoProjection,), {}, []),
    (check_inception_block, (MissingBranch,), {}, ["32 channels"]),
    (check_inception_block, (NoReductionReLU,), {}, []),
    (check_inception_block, (NoReductions,), {}, [str(sum(p.numel() for p in Inception(16, 4, (6, 8), (2, 4), 4).parameters()))]),
    (check_inception_savings, ((WITH + 648, WITHOUT + 448),), {}, [str(WITH), str(WITHOUT)]),
    (check_inception_savings, ((388_096, 1_089_536),), {}, [str(WITH), str(WITHOUT)]),
    (check_inception_savings, ((1, 2),), {}, [str(WITH), str(WITHOUT)]),
]

# answers of the compute exercises, never shown above them (tests/test_exercises_unanswered.py)
EXERCISE_ANSWERS = {
    "06_alexnet.ipynb": {"ex1-answer": [str(CONV5)]},
    "07_vgg.ipynb": {"ex2-answer": [str(FC6_288)]},
    "08_nin_googlenet.ipynb": {"ex2-answer": [str(WITH), str(WITHOUT)]},
}

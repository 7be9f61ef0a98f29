"""Checks for the exercises of notebooks 06 (AlexNet), 07 (VGG) and 08 (NiN / GoogLeNet).

Each check passes quietly (printing one line) or raises :class:`CheckFailed` with a hint
that names the likely mistake.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .core import NOT_IMPLEMENTED, CheckFailed, check_cases, expect_equal, expect_true, passed, protect


def _is_stub(answer: Any) -> bool:
    return answer is None or answer is ...


def _number(answer: Any, what: str) -> int:
    if _is_stub(answer):
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what).replace("the `raise NotImplementedError()` line", "`...`"))
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, float) and answer.is_integer():
        answer = int(answer)
    if not isinstance(answer, int) or isinstance(answer, bool):
        raise CheckFailed(f"{what} should be a whole number (an int), got {answer!r}")
    return answer


# ----------------------------------------------------------------------------- notebook 06
def check_grouped_conv_params(answer: Any) -> None:
    """Parameters of an eight-GPU layer with 5x5 kernels: ``nn.Conv2d(384, 384, 5, padding=2,
    groups=8)``, with biases."""
    got = _number(answer, "conv_params")
    weights = 5 * 5 * (384 // 8) * 384
    expected = weights + 384
    hints = {
        5 * 5 * 384 * 384 + 384: "that is a full convolution (groups=1): with groups=8 each filter sees only an "
                                 "eighth of the input channels",
        5 * 5 * 384 * 384: "that is a full convolution without biases: each filter sees only an eighth of the "
                           "input channels, and each filter has a bias",
        5 * 5 * (384 // 2) * 384 + 384: "that is a two-GPU layer (groups=2); here the channels are split in "
                                        "eight groups",
        5 * 5 * (384 // 4) * 384 + 384: "that is a four-GPU layer (groups=4); here the channels are split in "
                                        "eight groups",
        weights: "the weights are right; add the biases: one per filter",
        weights + 384 // 8: "every filter has its own bias, not one per filter of one GPU",
        weights // 8 + 384 // 8: "that is one GPU's share of the layer; the layer has all eight shares",
        weights // 8: "that is one GPU's share of the weights; count all eight shares and the biases",
        5 * 5 * (384 // 8) * (384 // 8) + 384: "each group has an eighth of the filters, and there are eight groups",
        3 * 3 * (384 // 8) * 384 + 384: "the kernels are 5x5 here, not conv4's 3x3",
    }
    expect_equal(got, expected, "conv_params",
                 hints.get(got, "not a typical slip: with groups=8, how many input channels does one filter "
                                "read, and how many filters (and biases) does the layer have in all?"))
    passed("conv_params")


def _lrn_reference(a: torch.Tensor, n: int, k: float, alpha: float, beta: float) -> torch.Tensor:
    return nn.LocalResponseNorm(n, alpha=alpha * n, beta=beta, k=k)(a)


def _lrn_variants(a: torch.Tensor, n: int, k: float, alpha: float, beta: float) -> dict[str, torch.Tensor]:
    """Typical wrong versions of the paper's LRN and the hint each one earns."""
    sq = F.pad(a ** 2, (0, 0, 0, 0, n // 2, (n - 1) // 2))
    centred = torch.stack([sq[:, c:c + n].sum(1) for c in range(a.shape[1])], dim=1)
    ahead = F.pad(a ** 2, (0, 0, 0, 0, 0, n - 1))
    forward = torch.stack([ahead[:, c:c + n].sum(1) for c in range(a.shape[1])], dim=1)
    raw = F.pad(a, (0, 0, 0, 0, n // 2, (n - 1) // 2))
    raw_sums = torch.stack([raw[:, c:c + n].sum(1) for c in range(a.shape[1])], dim=1)
    spatial = F.avg_pool2d(a ** 2, n, stride=1, padding=n // 2, count_include_pad=True) * n * n
    return {
        "you divided alpha by n (the mean of the squares, PyTorch's convention); the paper multiplies "
        "alpha by the *sum* of the squares": a / (k + alpha / n * centred) ** beta,
        "the power beta is missing: divide by (k + alpha * sum) ** beta": a / (k + alpha * centred),
        "the window must be centred on channel c (from c - n//2 to c + n//2), not start at c":
            a / (k + alpha * forward) ** beta,
        "square the activations before summing them": a / (k + alpha * raw_sums) ** beta,
        "LRN sums over neighbouring *channels* at the same pixel (dim=1), not over neighbouring pixels":
            a / (k + alpha * spatial) ** beta,
        "the zero channels beyond the edges must count as zeros: pad the channel axis, do not wrap around":
            a / (k + alpha * sum(torch.roll(a ** 2, s, dims=1) for s in range(-(n // 2), n // 2 + 1))) ** beta,
    }


def _has_loop(src: str) -> bool:
    """True if the code (docstring and comments left out) has a for/while loop or a comprehension."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(src))
    except SyntaxError:
        return False
    loops = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    return any(isinstance(node, loops) for node in ast.walk(tree))


def check_local_response_norm(fn: Callable[..., torch.Tensor], hidden: bool = False) -> None:
    """``fn(a, n, k, alpha, beta)``: the paper's LRN across channels, (N, C, H, W) -> same."""
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        src = ""
    if "LocalResponseNorm" in src or "F.local_response_norm" in src or "functional.local_response_norm" in src:
        raise CheckFailed("local_response_norm should compute the formula itself, without nn.LocalResponseNorm "
                          "or F.local_response_norm")
    if _has_loop(src):
        raise CheckFailed("local_response_norm should work without a Python loop (no for / while / comprehension): "
                          "the sum over a window of channels is a difference of two cumulative sums along dim=1 "
                          "(torch.cumsum), or a convolution along the channel axis")
    cases = [((2, 7, 3, 3), 5, 2.0, 1e-4, 0.75), ((1, 4, 2, 5), 3, 1.0, 0.01, 0.5), ((1, 6, 2, 2), 4, 2.0, 0.01, 0.75)]
    if hidden:
        cases += [((3, 2, 4, 4), 5, 2.0, 0.05, 0.75), ((1, 12, 1, 1), 7, 0.5, 0.02, 1.0)]
    gen = torch.Generator().manual_seed(0)
    for shape, n, k, alpha, beta in cases:
        a = torch.relu(torch.randn(shape, generator=gen)) * 20
        call = f"local_response_norm(a of shape {shape}, n={n}, k={k}, alpha={alpha}, beta={beta})"
        try:
            got = fn(a.clone(), n=n, k=k, alpha=alpha, beta=beta)
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="local_response_norm")) from None
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{call} returned a {type(got).__name__}, expected a tensor")
        expect_equal(tuple(got.shape), shape, f"the shape of {call}", "LRN keeps the shape of its input")
        expected = _lrn_reference(a, n, k, alpha, beta)
        if torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            continue
        for hint, wrong in _lrn_variants(a, n, k, alpha, beta).items():
            if torch.allclose(got, wrong, rtol=1e-4, atol=1e-5):
                raise CheckFailed(f"{call} is not the paper's LRN: {hint}")
        diff = (got - expected).abs().max().item()
        raise CheckFailed(f"{call} differs from the paper's formula (largest difference {diff:.3g}): "
                          f"b[c] = a[c] / (k + alpha * sum of a[c']**2 for c' in c-n//2 .. c+n//2) ** beta")
    passed("local_response_norm")


# ----------------------------------------------------------------------------- notebook 07
def _vgg_rf(blocks: list[int], pool_adds: bool = True, jump_grows: bool = True, pool_first: bool = False) -> int:
    """Receptive field after the last pooling; the flags switch on the typical mistakes."""
    rf, jump = 1, 1
    for convs in blocks:
        if pool_first:
            jump *= 2
        rf += convs * 2 * jump
        if pool_adds:
            rf += jump
        if jump_grows and not pool_first:
            jump *= 2
    return rf


def check_vgg_rf(fn: Callable[..., int], hidden: bool = False) -> None:
    """``fn(convs_per_block)``: receptive field after the last 2x2/2 pooling of VGG blocks of
    3x3, stride-1 convolutions."""
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        src = ""
    if "receptive_field" in src or "cnnlib.shapes" in src:
        raise CheckFailed("vgg_rf should follow the rule itself (r += (k - 1) * jump), without cnnlib.shapes")
    blocks = [[1, 3], [3, 1], [2, 1, 1], [4]]   # none of these is printed in notebook 07
    if hidden:
        blocks += [[1, 1, 2, 2, 2], [4, 4, 4, 4, 4], [], [2, 3, 2]]
    cases = [(([*b],), {}, _vgg_rf(b)) for b in blocks]

    def diagnose(args, kwargs, got, expected):
        b = args[0]
        if got == 1 + 2 * sum(b) + len(b):
            return ("the jump seems to stay 1: after each stride-2 pooling one step in the feature map is twice "
                    "as many input pixels, so later layers add (k - 1) * jump with a doubled jump")
        if got == 1 + 2 * sum(b):
            return "the jump stays 1 and the poolings add nothing: both are wrong"
        if got == _vgg_rf(b, pool_adds=False):
            return "the 2x2 pooling also widens the field: it adds (2 - 1) * jump before doubling the jump"
        if got == _vgg_rf(b, pool_first=True):
            return "the jump doubles *after* the pooling of a block, not before its convolutions"
        if got == _vgg_rf(b) - 1:
            return "off by one: a single pixel has receptive field 1, so start from 1, not 0"
        return ("not a typical slip: trace a single block by hand (one conv, then the pooling) and compare; "
                "what does one step in the feature map cost in input pixels after each pooling?")

    check_cases(fn, cases, "vgg_rf", diagnose)
    passed("vgg_rf")


def check_vgg16_fc6_params(answer: Any) -> None:
    """Parameters (with biases) of VGG-16's fc6 without adaptive pooling, for a 288x288 input."""
    got = _number(answer, "fc6_params")
    side = 288 // 2 ** 5
    expected = side * side * 512 * 4096 + 4096
    hints = {
        side * side * 512 * 4096: "the input size is right; add one bias per output",
        7 * 7 * 512 * 4096 + 4096: "that is fc6 for a 224x224 input: the feature map grows with the image "
                                   "when there is no adaptive pooling",
        7 * 7 * 512 * 4096: "that is fc6 for 224x224 without biases: here the image is larger, and the map with it",
        (288 // 16) ** 2 * 512 * 4096 + 4096: "count VGG-16's poolings again: the last one comes after conv5_3",
        (288 // 2 ** 5) * 512 * 4096 + 4096: "the feature map has a height and a width: fc6 sees every position of every channel",
        512 * 4096 + 4096: "fc6 sees the whole flattened feature map, every position of every channel, not 512 values",
        4096 * 4096 + 4096: "that is fc7 (4096 -> 4096); fc6 takes the flattened feature map",
        288 * 288 * 3 * 4096 + 4096: "fc6 comes after the five conv blocks: its input is the last feature map, "
                                     "not the image",
    }
    expect_equal(got, expected, "fc6_params",
                 hints.get(got, "not a typical slip: how large is the last feature map for this image, and "
                                "what does a dense layer hold per input and per output?"))
    passed("fc6_params")


# ----------------------------------------------------------------------------- notebook 08
def _footprint(out: torch.Tensor, x: torch.Tensor, channels: slice) -> int:
    """Side of the square of input pixels that the centre output pixel of ``channels`` depends on."""
    h, w = out.shape[-2:]
    (grad,) = torch.autograd.grad(out[:, channels, h // 2, w // 2].sum(), x, retain_graph=True)
    rows = grad.abs().sum(dim=(0, 1, 3)).nonzero()
    return int(rows.max() - rows.min() + 1) if len(rows) else 0


def check_inception_block(cls: type, hidden: bool = False) -> None:
    """``cls(in_channels, c1, c3, c5, pool_proj)``: an Inception block (1x1 | 1x1->3x3 |
    1x1->5x5 | 3x3 max pool->1x1, each conv followed by ReLU, concatenated along channels)."""
    from ..models.googlenet import Inception

    configs = [(16, 4, (6, 8), (2, 4), 4, 9)]
    if hidden:
        configs += [(8, 2, (4, 6), (2, 2), 2, 7), (32, 16, (8, 16), (4, 8), 8, 5)]
    for c_in, c1, c3, c5, pool_proj, size in configs:
        call = f"{cls.__name__}({c_in}, {c1}, {c3}, {c5}, {pool_proj})"
        try:
            torch.manual_seed(0)
            block = cls(c_in, c1, c3, c5, pool_proj)
            x = torch.rand(8, c_in, size, size, requires_grad=True)
            out = block(x)
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what=cls.__name__)) from None
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"{call}(x) returned a {type(out).__name__}: forward must return one tensor, "
                              f"the branches concatenated with torch.cat(..., dim=1)")
        expected_c = c1 + c3[1] + c5[1] + pool_proj
        shape = tuple(out.shape)
        if shape[0] != 8:
            raise CheckFailed(f"{call} turned a batch of 8 into shape {shape}: concatenate along the channel "
                              f"axis (dim=1), not the batch axis")
        if shape[1] == c1 + c3[1] + c5[1] + c_in:
            raise CheckFailed(f"{call} gives {shape[1]} channels: the pool branch passes all {c_in} input channels "
                              f"on; it needs its 1x1 projection to pool_proj channels")
        if shape[1] != expected_c:
            raise CheckFailed(f"{call} gives {shape[1]} channels, {'too many' if shape[1] > expected_c else 'too few'}"
                              f": concatenate the four branch outputs along dim=1, with c1 + c3[1] + c5[1] + "
                              f"pool_proj channels in all")
        if shape[2:] != (size, size):
            raise CheckFailed(f"{call} turned a {size}x{size} input into {shape[2]}x{shape[3]}: every branch must "
                              f"keep the size (padding 1 for 3x3, 2 for 5x5, and stride=1, padding=1 in the pool), "
                              f"or torch.cat cannot stack them")
        expect_true(bool((out >= 0).all()), f"{call} has negative outputs: every convolution in the block is "
                                            f"followed by a ReLU")
        layout = [("1x1 branch", slice(0, c1), 1), ("3x3 branch", slice(c1, c1 + c3[1]), 3),
                  ("5x5 branch", slice(c1 + c3[1], c1 + c3[1] + c5[1]), 5),
                  ("pool branch", slice(c1 + c3[1] + c5[1], expected_c), 3)]
        for name, channels, side in layout:
            seen = _footprint(out, x, channels)
            expect_true(seen == side, f"{call}: output channels {channels.start}..{channels.stop - 1} should be the "
                                      f"{name} (each output sees {side}x{side} input pixels) but see {seen}x{seen}: "
                                      f"concatenate in the order 1x1, 3x3, 5x5, pool, and check the kernel sizes")
        reference = sum(p.numel() for p in Inception(c_in, c1, c3, c5, pool_proj).parameters())
        got = sum(p.numel() for p in block.parameters())
        if got != reference:
            hint = ("the 1x1 reductions in front of the 3x3 and 5x5 convolutions seem to be missing"
                    if got > reference else "each of the six convolutions has a weight and a bias")
            raise CheckFailed(f"{call} has {got:,} parameters, {'too many' if got > reference else 'too few'}: {hint}")
        out.sum().backward()
        missing = [n for n, p in block.named_parameters() if p.grad is None]
        expect_true(not missing, f"{call}: no gradient reaches {missing}: is every branch used in forward?")
    _check_relus_after_reductions(cls)
    passed(cls.__name__)


def _check_relus_after_reductions(cls: type) -> None:
    """Copy a reference block's weights into the learner's (matched by weight shape; every
    shape differs in this configuration), with the 1x1 reductions made negative on positive
    inputs, and compare the outputs: a block without the ReLUs after the reductions differs."""
    from ..models.googlenet import Inception

    c_in, c1, c3, c5, pool_proj = 8, 3, (5, 6), (2, 4), 7
    call = f"{cls.__name__}({c_in}, {c1}, {c3}, {c5}, {pool_proj})"
    torch.manual_seed(1)
    reference, block = Inception(c_in, c1, c3, c5, pool_proj), cls(c_in, c1, c3, c5, pool_proj)
    ref_convs = {tuple(m.weight.shape): m for m in reference.modules() if isinstance(m, nn.Conv2d)}
    with torch.no_grad():
        for shape in ((c3[0], c_in, 1, 1), (c5[0], c_in, 1, 1)):     # the reductions: negative on x >= 0
            ref_convs[shape].weight.copy_(-ref_convs[shape].weight.abs())
            ref_convs[shape].bias.fill_(-0.1)
        for m in block.modules():
            if isinstance(m, nn.Conv2d):
                ref = ref_convs.get(tuple(m.weight.shape))
                if ref is None or m.bias is None:
                    return                     # an unusual layout: the checks above have judged it
                m.weight.copy_(ref.weight)
                m.bias.copy_(ref.bias)
        x = torch.rand(4, c_in, 6, 6)
        same = torch.allclose(block(x), reference(x), atol=1e-5)
    expect_true(same, f"{call} with the weights of a reference block copied in gives other outputs where "
                      f"the 1x1 reductions are negative: does every convolution, the 1x1 reductions in front of "
                      f"the 3x3 and 5x5 included, have its ReLU right after it?")


def check_inception_savings(answer: Any) -> None:
    """``(with_reductions, without_reductions)``: weights (no biases) of block 4b's branches
    (160 | 112->224 | 24->64 | 64) on 480 input channels, and of the naive block with the
    same 1x1, 3x3 and 5x5 outputs and no 1x1 reductions."""
    if _is_stub(answer):
        raise CheckFailed(NOT_IMPLEMENTED.format(what="savings").replace("the `raise NotImplementedError()` line", "`...`"))
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise CheckFailed(f"savings should be a pair (with_reductions, without_reductions), got {answer!r}")
    got = (_number(answer[0], "savings[0]"), _number(answer[1], "savings[1]"))

    def block(c_in: int) -> tuple[int, int]:
        return (c_in * 160 + (c_in * 112 + 9 * 112 * 224) + (c_in * 24 + 25 * 24 * 64) + c_in * 64,
                c_in * 160 + 9 * c_in * 224 + 25 * c_in * 64)

    with_red, without = expected = block(480)
    hints = {
        (without, with_red): "the order is (with reductions, without reductions)",
        (with_red + 648, without + 448): "count weights only, no biases",
        (with_red, without + 480 * 64): "the naive block (Figure 2a) has no 1x1 projection after the pooling",
        block(512): "those are block 4b's numbers on its own 512 input channels; here it sits on 3b's 480",
        (388_096, 1_089_536): "those are block 3b's numbers; use 4b's branches on 480 input channels",
        (with_red - 480 * 64, without): "the pool branch's 1x1 projection (480 -> 64) is part of the block",
    }
    expect_equal(got, expected, "savings", hints.get(got, "not a typical slip: which input channels does each "
                                                     "convolution of each branch read, with and without the "
                                                     "reductions?"))
    passed("savings")


protect(globals())

"""Checks for the exercises of notebook 13 (what a trained CNN looks at).

The messages name the mistake; they never print the expected numbers.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .core import NOT_IMPLEMENTED, CheckFailed, expect_true, passed, protect


def _toy_model(seed: int) -> nn.Module:
    """A small fixed convolutional classifier (1x8x8 -> 4 classes) built from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(4 * 4 * 4, 4))
    return model.eval()


def _toy_images(seed: int, n: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    x[:, :, :2] = 0.0      # some black and some white pixels, where clamping matters
    x[:, :, -2:] = 1.0
    return x


def _target_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), target, reduction="sum"), xg)
    return g


def check_targeted_fgsm(fn: Callable[..., torch.Tensor], hidden: bool = False) -> None:
    """``fn(model, x, target, epsilon) -> x_adv``: one signed step *down* the cross-entropy
    of the target class, clamped to [0, 1]."""
    cases = [(0, 0.1), (1, 0.25)] + ([(2, 0.05), (3, 0.5)] if hidden else [])
    for seed, eps in cases:
        model, x = _toy_model(seed), _toy_images(seed)
        target = torch.arange(len(x)) % 4
        before = x.clone()
        try:
            got = fn(model, x, target, eps)
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="targeted_fgsm")) from None
        if got is None or got is ...:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="targeted_fgsm") +
                              " (the function returned nothing: did you forget `return`?)")
        expect_true(isinstance(got, torch.Tensor), f"targeted_fgsm should return a tensor, got a {type(got).__name__}")
        expect_true(torch.equal(x, before), "targeted_fgsm changed its input x in place: work on a copy "
                    "(x.clone().requires_grad_(True)) and return a new tensor")
        expect_true(tuple(got.shape) == tuple(x.shape),
                    f"targeted_fgsm returned shape {tuple(got.shape)} for images of shape {tuple(x.shape)}: "
                    "return one adversarial image per input image, same shape")
        got = got.detach().float()
        g = _target_gradient(model, x, target)
        expected = (x - eps * g.sign()).clamp(0, 1)
        if torch.allclose(got, expected, atol=1e-6):
            continue
        if torch.allclose(got, (x + eps * g.sign()).clamp(0, 1), atol=1e-6):
            raise CheckFailed("targeted_fgsm steps UP the loss of the target class, which pushes the image away "
                              "from it: a targeted attack goes down the loss, x - epsilon * sign(gradient)")
        if torch.allclose(got, x - eps * g.sign(), atol=1e-6):
            raise CheckFailed("some pixels of the result lie outside [0, 1]: clamp the adversarial image to the "
                              "valid pixel range")
        if torch.allclose(got, (x - eps * g).clamp(0, 1), atol=1e-6) or torch.allclose(got, x - eps * g, atol=1e-6):
            raise CheckFailed("targeted_fgsm steps along the gradient itself; FGSM uses its sign, so that every "
                              "pixel moves by exactly epsilon (an L-infinity step)")
        step = (got - x).abs().max().item()
        if step > eps + 1e-6:
            raise CheckFailed(f"a pixel moved by {step:.3g}, more than epsilon = {eps}: the step must be "
                              "epsilon * sign(gradient)")
        raise CheckFailed(f"targeted_fgsm(model, x, target, epsilon={eps}) differs from one signed gradient step "
                          "down the cross-entropy of the target class (clamped to [0, 1]): compute the loss with "
                          "the target labels, take its gradient with respect to x, and step against its sign")
    passed("targeted_fgsm")


def _number(answer: Any, name: str) -> float:
    if answer is ... or answer is None:
        raise CheckFailed(f"{name} is not answered yet: replace `...` with your number and run the cell again.")
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise CheckFailed(f"{name} should be a number, got a {type(answer).__name__}")
    return float(answer)


def _windows_per_axis(size: int, patch: int, stride: int) -> int:
    return 1 if size <= patch else math.ceil((size - patch) / stride) + 1


def check_occlusion_count(answer: Any) -> None:
    """The number of occluded copies of a 28x28 image for a 7x7 patch with stride 3."""
    got = _number(answer, "n_occluded")
    per_axis = _windows_per_axis(28, 7, 3)
    if got == per_axis ** 2:
        passed("n_occluded")
        return
    if got == per_axis ** 2 + 1:
        raise CheckFailed("n_occluded counts the clean, unoccluded image too: count only the occluded copies")
    if got == per_axis:
        raise CheckFailed("that is the number of window positions along one axis; the patch slides along both")
    if got == (per_axis - 1) ** 2:
        raise CheckFailed("one position short on each axis: count the starts again: "
                          "does the first window start at 0?")
    if got in (math.ceil(28 / 3) ** 2, (28 // 3) ** 2, 28 * 28):
        raise CheckFailed("the window positions depend on the patch size too: the last window must still fit "
                          "(start + 7 <= 28), so the start runs from 0 to 28 - 7 in steps of 3")
    raise CheckFailed("n_occluded is not the number of 7x7 windows: count the start positions along one axis "
                      "(0, 3, 6, ... up to 28 - 7), then the patch positions in 2-D")


def check_fgsm_l2(answer: Any) -> None:
    """The L2 norm of an FGSM perturbation with epsilon 0.1 on a 1x28x28 image (no zero
    gradient, no clipping)."""
    got = _number(answer, "l2_norm")
    n, eps = 28 * 28, 0.1
    expected = eps * math.sqrt(n)
    if math.isclose(got, expected, rel_tol=1e-3):
        passed("l2_norm")
        return
    if math.isclose(got, eps, rel_tol=1e-3):
        raise CheckFailed("0.1 is the L-infinity norm (the largest change of one pixel); the L2 norm adds up "
                          "all 784 changes: sqrt(sum of squares)")
    if math.isclose(got, eps * n, rel_tol=1e-3):
        raise CheckFailed("that is the L1 norm (the sum of |changes|); the L2 norm is the square root of the "
                          "sum of squared changes")
    if math.isclose(got, eps ** 2 * n, rel_tol=1e-3):
        raise CheckFailed("that is the squared L2 norm: take the square root")
    raise CheckFailed("l2_norm is not the Euclidean length of the perturbation: every one of the 784 pixels "
                      "changes by +epsilon or -epsilon")


protect(globals())

"""What a trained CNN looks at: attribution maps, activation maximization, adversarial examples.

Every method takes a classifier ``model`` (images ``(N, C, H, W)`` -> logits ``(N, K)``)
and explains the **class score** ``S_c(x)``, the logit of class ``c`` (not the softmax
probability, as in Simonyan et al., 2014 and Selvaraju et al., 2017). The model is put in
``eval`` mode while a method runs (BatchNorm and dropout then treat images one by one)
and its previous mode is restored afterwards; no method changes the model's parameters or
their ``.grad``.

- :func:`saliency`: ``dS_c/dx``, signed (Simonyan et al., 2014).
- :func:`smoothgrad`: the saliency averaged over noisy copies of the input (Smilkov et al., 2017).
- :func:`input_x_gradient`: ``x * dS_c/dx``.
- :func:`grad_cam`: ``ReLU(sum_k alpha_k A^k)`` with ``alpha_k`` the spatial mean of
  ``dS_c/dA^k`` over a convolutional layer's output ``A`` (Selvaraju et al., 2017).
- :func:`occlusion`: the drop of ``S_c`` when a patch is replaced by a baseline, averaged
  over the patches covering each pixel (Zeiler & Fergus, 2014; Captum's ``Occlusion``).
- :func:`activation_maximization`: an input optimized to excite a class or a channel.
- :func:`fgsm`, :func:`pgd`: L-infinity adversarial examples (Goodfellow et al., 2015;
  Madry et al., 2018); :func:`accuracy_under_attack`.
- :func:`randomize_layers`, :func:`spearman`: the model-randomization sanity check of
  Adebayo et al. (2018).
- :func:`roughness`, :func:`top_fraction_mask`, :func:`peak_inside`, :func:`mask_iou`:
  numbers to compare maps.
"""
from __future__ import annotations

import copy
import math
import numbers
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import _validate

Target = int | Sequence[int] | torch.Tensor


# ---------------------------------------------------------------- argument checks

def _check_model(model: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _check_images(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image, got shape {tuple(x.shape)}")


def _check_target(target: Target, n: int, device: torch.device, name: str = "target") -> torch.Tensor:
    """An int (the same class for every image) or N ints -> (N,) int64 tensor."""
    if isinstance(target, bool):
        raise TypeError(f"{name} must be an int or a sequence of {n} ints, got a bool")
    if isinstance(target, numbers.Integral):
        t = torch.full((n,), int(target), dtype=torch.int64)
    else:
        t = torch.as_tensor(target)
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer class indices, got dtype {t.dtype}")
        if t.shape != (n,):
            raise ValueError(f"{name} must be an int or have shape ({n},) (one class per image), "
                             f"got shape {tuple(t.shape)}")
        t = t.to(torch.int64)
    if (t < 0).any():
        raise ValueError(f"{name} must hold non-negative class indices, got {t.min().item()}")
    return t.to(device)


def _check_layer(model: nn.Module, layer: nn.Module) -> None:
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be a torch.nn.Module inside model, got {type(layer).__name__}")
    if not any(m is layer for m in model.modules()):
        raise ValueError(f"layer must be a submodule of model (e.g. model.features.conv2), got a "
                         f"{type(layer).__name__} that model does not contain")


def _check_maps(name: str, maps: torch.Tensor) -> None:
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, H, W), got {type(maps).__name__}")
    if maps.ndim != 3:
        raise ValueError(f"{name} must have shape (N, H, W), got shape {tuple(maps.shape)}")


def _nonneg_float(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number >= 0, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


@contextmanager
def _eval(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _scores(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if logits.ndim != 2:
        raise ValueError(f"model must return logits of shape (N, num_classes), got shape {tuple(logits.shape)}")
    if (target >= logits.shape[1]).any():
        raise ValueError(f"target must be < num_classes = {logits.shape[1]}, got {target.max().item()}")
    return logits.gather(1, target[:, None])[:, 0]


# ---------------------------------------------------------------- gradients of the class score

def class_scores(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """The logit of the target class for each image: x: (N, C, H, W) -> (N,)."""
    _check_model(model)
    _check_images("x", x)
    t = _check_target(target, len(x), x.device)
    with _eval(model), torch.no_grad():
        return _scores(model(x), t)


def saliency(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Signed gradient of the class score with respect to the input pixels.

    x: (N, C, H, W), target: int or (N,) -> (N, C, H, W), ``dS_target/dx``. Each image's
    gradient is its own (the scores are summed, and images do not interact in eval mode).
    Simonyan et al. (2014) show ``max_c |.|`` over colour channels; with one channel that
    is the absolute value.
    """
    _check_model(model)
    _check_images("x", x)
    t = _check_target(target, len(x), x.device)
    with _eval(model), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(_scores(model(xg), t).sum(), xg)
    return grad


def smoothgrad(model: nn.Module, x: torch.Tensor, target: Target, samples: int = 25,
               noise: float = 0.15, seed: int = 0) -> torch.Tensor:
    """SmoothGrad: the mean saliency over ``samples`` noisy copies of each image.

    x: (N, C, H, W) -> (N, C, H, W). The noise is Gaussian with standard deviation
    ``noise * (max(x_i) - min(x_i))`` per image (Smilkov et al., 2017, who found 10-20 %
    best), drawn from a generator seeded with ``seed`` (the same seed gives the same map).
    """
    _check_model(model)
    _check_images("x", x)
    samples = _validate.positive_int("samples", samples)
    noise = _nonneg_float("noise", noise)
    _validate.nonneg_int("seed", seed)
    t = _check_target(target, len(x), x.device)
    span = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).view(-1, 1, 1, 1)
    g = torch.Generator(device=x.device).manual_seed(seed)
    total = torch.zeros_like(x)
    for _ in range(samples):
        eps = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        total += saliency(model, x + noise * span * eps, t)
    return total / samples


def input_x_gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Input times gradient, ``x * dS_target/dx``: (N, C, H, W) -> (N, C, H, W).

    Zero wherever the input is zero (an MNIST background), whatever the model.
    """
    grad = saliency(model, x, target)  # checks model, x and target first
    return x.detach() * grad


# ---------------------------------------------------------------- layers

def layer_activations(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of ``layer`` when ``model`` runs on ``x`` (eval mode, no gradient).

    x: (N, C, H, W) -> the layer's output, e.g. (N, K, h, w) for a convolution.
    """
    _check_model(model)
    _check_layer(model, layer)
    _check_images("x", x)
    store: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, i, o: store.append(o))
    try:
        with _eval(model), torch.no_grad():
            model(x)
    finally:
        handle.remove()
    if not store:
        raise ValueError("layer was not called in model's forward pass")
    return store[0].detach()


def top_activating(model: nn.Module, layer: nn.Module, x: torch.Tensor, channel: int, k: int = 8,
                   batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` images of ``x`` whose channel ``channel`` of ``layer`` responds most.

    x: (N, C, H, W) -> (values (k,), indices (k,)), sorted from the largest; an image's
    response is the largest value of that channel's map (anywhere in the image).
    """
    _check_images("x", x)
    channel = _validate.nonneg_int("channel", channel)
    k = _validate.positive_int("k", k)
    batch_size = _validate.positive_int("batch_size", batch_size)
    if k > len(x):
        raise ValueError(f"k must be at most the number of images {len(x)}, got {k}")
    scores = []
    for i in range(0, len(x), batch_size):
        a = layer_activations(model, layer, x[i:i + batch_size])
        if a.ndim != 4:
            raise ValueError(f"layer must output feature maps (N, K, h, w), got shape {tuple(a.shape)}")
        if channel >= a.shape[1]:
            raise ValueError(f"channel must be < the layer's {a.shape[1]} channels, got {channel}")
        scores.append(a[:, channel].flatten(1).amax(1))
    return torch.cat(scores).topk(k)


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: Target,
             relu: bool = True) -> torch.Tensor:
    """Grad-CAM of Selvaraju et al. (2017) at the output ``A`` of a convolutional ``layer``.

    x: (N, C, H, W), target: int or (N,) -> (N, h, w), the layer's spatial size::

        alpha_k = mean over (i, j) of dS_target / dA^k_ij        (one weight per channel k)
        map     = ReLU( sum_k alpha_k * A^k )

    ``relu=False`` keeps the negative part (Captum's ``relu_attributions=False``). Use
    :func:`upsample_map` to lay the map over the input.
    """
    _check_model(model)
    _check_layer(model, layer)
    _check_images("x", x)
    t = _check_target(target, len(x), x.device)
    store: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, i, o: store.append(o))
    try:
        with _eval(model), torch.enable_grad():
            score = _scores(model(x.detach()), t).sum()
            if len(store) != 1:
                raise ValueError(f"layer must be called exactly once in model's forward pass, "
                                 f"it was called {len(store)} times")
            acts = store[0]
            if acts.ndim != 4:
                raise ValueError(f"layer must output feature maps (N, K, h, w), got shape {tuple(acts.shape)}")
            (grads,) = torch.autograd.grad(score, acts)
    finally:
        handle.remove()
    alpha = grads.mean(dim=(2, 3), keepdim=True)          # (N, K, 1, 1)
    cam = (alpha * acts.detach()).sum(dim=1)              # (N, h, w)
    return cam.clamp(min=0) if relu else cam


def upsample_map(maps: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of maps to the image size: (N, h, w) -> (N, H, W)."""
    _check_maps("maps", maps)
    size = _validate.pair("size", size)
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


# ---------------------------------------------------------------- occlusion

def _starts(size: int, patch: int, stride: int) -> list[int]:
    n = 1 if size <= patch else math.ceil((size - patch) / stride) + 1
    return [i * stride for i in range(n)]


def occlusion(model: nn.Module, x: torch.Tensor, target: Target, patch: int | tuple[int, int] = 6,
              stride: int | tuple[int, int] = 2, baseline: float = 0.0, batch_size: int = 1024) -> torch.Tensor:
    """Occlusion sensitivity: how much the class score drops when a patch is hidden.

    x: (N, C, H, W) -> (N, H, W). A ``patch`` window (all channels) slides with ``stride``
    from the top-left corner until it covers the image (the last window in a row may be
    cut by the border, as in Captum's ``Occlusion``); inside it the pixels are set to
    ``baseline``. Each pixel gets the mean of ``S(x) - S(x occluded)`` over the windows
    that cover it: positive where hiding the pixel lowers the score.
    ``batch_size`` occluded images go through the model at once.
    """
    _check_model(model)
    _check_images("x", x)
    ph, pw = _validate.pair("patch", patch)
    sh, sw = _validate.pair("stride", stride)
    batch_size = _validate.positive_int("batch_size", batch_size)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise TypeError(f"baseline must be a number (the value of occluded pixels), got {type(baseline).__name__}")
    n, c, h, w = x.shape
    if ph > h or pw > w:
        raise ValueError(f"patch must fit in the image {h}x{w}, got {ph}x{pw}")
    if sh > ph or sw > pw:
        raise ValueError(f"stride must be at most the patch size {ph}x{pw} (so that every pixel is covered), "
                         f"got {sh}x{sw}")
    t = _check_target(target, n, x.device)
    windows = [(i, j) for i in _starts(h, ph, sh) for j in _starts(w, pw, sw)]
    masks = torch.zeros(len(windows), h, w, dtype=x.dtype, device=x.device)   # 1 inside each window
    for m, (i, j) in enumerate(windows):
        masks[m, i:i + ph, j:j + pw] = 1
    total = torch.zeros(n, h, w, dtype=x.dtype, device=x.device)
    with _eval(model), torch.no_grad():
        clean = _scores(model(x), t)                                     # (N,)
        per = max(1, batch_size // n)                                    # windows per forward pass
        for s in range(0, len(windows), per):
            mk = masks[s:s + per]                                        # (P, H, W)
            occluded = x[:, None] * (1 - mk[None, :, None]) + baseline * mk[None, :, None]   # (N, P, C, H, W)
            scores = _scores(model(occluded.flatten(0, 1)), t.repeat_interleave(len(mk)))
            drop = clean[:, None] - scores.view(n, len(mk))             # (N, P)
            total += torch.einsum("np,phw->nhw", drop, mk)
    return total / masks.sum(0)


# ---------------------------------------------------------------- activation maximization

def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation, the sum of |differences| between neighbouring pixels.

    x: (N, C, H, W) -> (N,). A smoothness penalty: noise has a large one, strokes a small one.
    """
    _check_images("x", x)
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).sum(1)
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).sum(1)
    return dh + dw


def activation_maximization(
    model: nn.Module,
    target: Target,
    shape: Sequence[int] = (1, 28, 28),
    layer: nn.Module | None = None,
    steps: int = 200,
    lr: float = 0.05,
    l2: float = 1e-3,
    tv: float = 1e-2,
    jitter: int = 2,
    init: float = 0.0,
    seed: int = 0,
    clamp: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """Images optimized to excite a class (or a channel of ``layer``), one per target.

    target: int or (N,) classes (or channels when ``layer`` is given); shape: (C, H, W) of
    one input -> (N, C, H, W). Gradient ascent with Adam on::

        objective(x) - l2 * ||x||^2 - tv * TV(x)

    where the objective is the class logit, or the mean of the channel's map at ``layer``.
    Each step first shifts the image by up to ``jitter`` pixels (a random ``torch.roll``),
    and clamps the pixels to ``clamp`` after it: the regularizers of Simonyan et al. (2014),
    Mahendran & Vedaldi (2015) and Olah et al. (2017) that make the result readable.
    The start is ``init`` plus Gaussian noise of standard deviation 0.01 (seeded).
    """
    _check_model(model)
    if layer is not None:
        _check_layer(model, layer)
    shape = tuple(_validate.positive_int(f"shape[{i}]", s) for i, s in enumerate(shape))
    if len(shape) != 3:
        raise ValueError(f"shape must be (C, H, W) of one input, got {shape}")
    steps = _validate.positive_int("steps", steps)
    lr, l2, tv = _nonneg_float("lr", lr), _nonneg_float("l2", l2), _nonneg_float("tv", tv)
    jitter = _validate.nonneg_int("jitter", jitter)
    if len(clamp) != 2 or not clamp[0] < clamp[1]:
        raise ValueError(f"clamp must be (low, high) with low < high, got {clamp}")
    device = next(iter(model.parameters()), torch.zeros(())).device
    n = 1 if isinstance(target, numbers.Integral) and not isinstance(target, bool) else len(target)
    t = _check_target(target, n, device)
    g = torch.Generator().manual_seed(_validate.nonneg_int("seed", seed))
    x = (init + 0.01 * torch.randn((n, *shape), generator=g)).clamp(*clamp).to(device).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    store: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, i, o: store.append(o)) if layer is not None else None
    try:
        with _eval(model), torch.enable_grad():
            for _ in range(steps):
                dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist() if jitter else (0, 0))
                store.clear()
                logits = model(torch.roll(x, shifts=(dy, dx), dims=(2, 3)))
                if layer is None:
                    objective = _scores(logits, t)
                else:
                    acts = store[0]
                    if (t >= acts.shape[1]).any():
                        raise ValueError(f"target must be < the layer's {acts.shape[1]} channels, got {t.max().item()}")
                    objective = acts[torch.arange(n), t].flatten(1).mean(1)
                loss = -(objective - l2 * x.pow(2).flatten(1).sum(1) - tv * total_variation(x)).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    x.clamp_(*clamp)
    finally:
        if handle is not None:
            handle.remove()
    return x.detach()


# ---------------------------------------------------------------- adversarial examples

def _check_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> tuple[torch.Tensor, float]:
    _check_model(model)
    _check_images("x", x)
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),) or y.is_floating_point():
        raise ValueError(f"y must be an int64 tensor of shape ({len(x)},) (the true labels), got "
                         f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))}")
    return y.to(x.device), _nonneg_float("epsilon", epsilon)


def _loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with _eval(model), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float,
         clamp: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al., 2015): one step up the loss.

    x: (N, C, H, W) images, y: (N,) true labels -> adversarial images (N, C, H, W)::

        x_adv = clamp(x + epsilon * sign(d cross_entropy(model(x), y) / dx))

    so every pixel moves by at most ``epsilon`` (the L-infinity ball). ``clamp=None``
    keeps values outside the valid pixel range.
    """
    y, epsilon = _check_attack(model, x, y, epsilon)
    x_adv = x.detach() + epsilon * _loss_gradient(model, x, y).sign()
    return x_adv.clamp(*clamp) if clamp is not None else x_adv


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, steps: int = 10,
        alpha: float | None = None, random_start: bool = True, seed: int = 0,
        clamp: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """Projected gradient descent (Madry et al., 2018): FGSM steps of size ``alpha``, each
    followed by a projection back into the L-infinity ball of radius ``epsilon`` around x.

    x: (N, C, H, W), y: (N,) -> (N, C, H, W). ``alpha`` defaults to 2.5 * epsilon / steps;
    ``random_start`` begins at a uniform random point of the ball (seeded with ``seed``).
    One step with ``alpha=epsilon`` and no random start is :func:`fgsm`.
    """
    y, epsilon = _check_attack(model, x, y, epsilon)
    steps = _validate.positive_int("steps", steps)
    alpha = 2.5 * epsilon / steps if alpha is None else _nonneg_float("alpha", alpha)
    x0 = x.detach()
    x_adv = x0.clone()
    if random_start:
        g = torch.Generator(device=x.device).manual_seed(_validate.nonneg_int("seed", seed))
        x_adv = x_adv + epsilon * (2 * torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) - 1)
        if clamp is not None:
            x_adv = x_adv.clamp(*clamp)
    for _ in range(steps):
        x_adv = x_adv + alpha * _loss_gradient(model, x_adv, y).sign()
        x_adv = torch.min(torch.max(x_adv, x0 - epsilon), x0 + epsilon)
        if clamp is not None:
            x_adv = x_adv.clamp(*clamp)
    return x_adv


def accuracy_under_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float],
                          attack: Callable[..., torch.Tensor] = fgsm, batch_size: int = 1000,
                          **attack_kwargs) -> list[float]:
    """Accuracy on ``attack(model, x, y, epsilon, **attack_kwargs)`` for each epsilon.

    x: (N, C, H, W), y: (N,) -> one accuracy in [0, 1] per epsilon (epsilon 0: clean accuracy).
    """
    _check_images("x", x)
    batch_size = _validate.positive_int("batch_size", batch_size)
    accs = []
    for eps in epsilons:
        correct = 0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            adv = attack(model, xb, yb, eps, **attack_kwargs)
            with _eval(model), torch.no_grad():
                correct += (model(adv).argmax(1) == yb.to(adv.device)).sum().item()
        accs.append(correct / len(x))
    return accs


# ---------------------------------------------------------------- sanity check (Adebayo et al., 2018)

def randomize_layers(model: nn.Module, names: Sequence[str], seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose named submodules are re-initialized (``reset_parameters``).

    ``names`` as in ``model.named_modules()``, e.g. ``["classifier.fc3", "features.conv2"]``;
    every module inside a named one with a ``reset_parameters`` method is reset, with
    PyTorch's default initializers, from ``seed`` (the global RNG is left untouched). The
    original model is not changed. Cascading randomization (Adebayo et al., 2018) calls this
    with more and more names, from the output layer down.
    """
    _check_model(model)
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules or name == "":
            raise ValueError(f"names must be submodule names of model, e.g. {list(modules)[1:4]}, got {name!r}")
    out = copy.deepcopy(model)
    new = dict(out.named_modules())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_validate.nonneg_int("seed", seed))
        for name in names:
            for m in new[name].modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
    return out


def _average_ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    new_group = np.concatenate(([True], sorted_v[1:] != sorted_v[:-1]))
    group = np.cumsum(new_group) - 1
    counts = np.bincount(group)
    first = np.cumsum(counts) - counts
    ranks = np.empty(len(v))
    ranks[order] = (first + (counts - 1) / 2.0)[group]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each pair of maps: (N, ...) and (N, ...) -> (N,) in [-1, 1].

    The Pearson correlation of the ranks, ties given their average rank (as
    ``scipy.stats.spearmanr``). A constant map has no ranking: its correlation is NaN.
    """
    for name, v in (("a", a), ("b", b)):
        if not isinstance(v, torch.Tensor) or v.ndim < 2:
            raise ValueError(f"{name} must be a tensor of shape (N, ...) with N maps")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    out = []
    for u, v in zip(a.detach().flatten(1).double().cpu().numpy(), b.detach().flatten(1).double().cpu().numpy()):
        ru, rv = _average_ranks(u) - (len(u) - 1) / 2, _average_ranks(v) - (len(v) - 1) / 2
        den = math.sqrt((ru ** 2).sum() * (rv ** 2).sum())
        out.append((ru * rv).sum() / den if den > 0 else float("nan"))
    return torch.tensor(out, dtype=torch.float64)


# ---------------------------------------------------------------- comparing maps

def roughness(maps: torch.Tensor) -> torch.Tensor:
    """How noisy a map is: total variation over total magnitude, (N, H, W) -> (N,).

    ``sum |m_ij - m_neighbour| / sum |m_ij|``; it does not change when a map is scaled,
    so maps of different methods compare. About 4 for white noise, small for smooth blobs.
    """
    _check_maps("maps", maps)
    mag = maps.abs().flatten(1).sum(1)
    if (mag == 0).any():
        raise ValueError("maps must not be all zero (roughness of an empty map is undefined)")
    return total_variation(maps[:, None]) / mag


def top_fraction_mask(maps: torch.Tensor, fraction: float) -> torch.Tensor:
    """The ``fraction`` of each map's pixels with the largest values: (N, H, W) -> bool (N, H, W).

    Exactly ``round(fraction * H * W)`` pixels per map (at least one); ties broken by position.
    """
    _check_maps("maps", maps)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    flat = maps.flatten(1)
    k = max(1, round(fraction * flat.shape[1]))
    idx = flat.topk(k, dim=1).indices
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, idx, True)
    return mask.view_as(maps)


def peak_inside(peak_maps: torch.Tensor, region_maps: torch.Tensor, fraction: float) -> torch.Tensor:
    """Does each map's peak fall in the top ``fraction`` of the other map?

    peak_maps, region_maps: (N, H, W) -> bool (N,): True where the argmax pixel of
    ``peak_maps[i]`` is one of the ``fraction`` largest pixels of ``region_maps[i]``
    (:func:`top_fraction_mask`). For two unrelated maps the chance is about ``fraction``.
    """
    _check_maps("peak_maps", peak_maps)
    _check_maps("region_maps", region_maps)
    if peak_maps.shape != region_maps.shape:
        raise ValueError(f"peak_maps and region_maps must have the same shape, got {tuple(peak_maps.shape)} "
                         f"and {tuple(region_maps.shape)}")
    peak = peak_maps.flatten(1).argmax(1)
    region = top_fraction_mask(region_maps, fraction).flatten(1)
    return region[torch.arange(len(peak), device=peak.device), peak]


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of boolean masks: (N, H, W) and (N, H, W) -> (N,) in [0, 1]."""
    _check_maps("a", a)
    _check_maps("b", b)
    if a.dtype != torch.bool or b.dtype != torch.bool:
        raise TypeError(f"a and b must be boolean masks, got {a.dtype} and {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    inter = (a & b).flatten(1).sum(1).double()
    union = (a | b).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))

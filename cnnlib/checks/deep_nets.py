"""Checks for the exercises of notebooks 09-11 (batch normalization, ResNet, DenseNet).

Each check computes the right answer with PyTorch or cnnlib and, when the learner's
answer differs, tries the typical mistakes one by one to name the likely one
(unbiased variance in batch norm, the ReLU before the addition in a residual block,
a shortcut without the stride, channels that "double" in a dense block, ...).
"""
from __future__ import annotations

import contextlib
import numbers
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .core import NOT_IMPLEMENTED, CheckFailed, expect_true, numerical_gradient, passed, protect, relative_error


def _is_stub(value: Any) -> bool:
    return value is None or value is ...


def _call(fn: Callable, what: str, *args: Any) -> Any:
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what)) from None


def _close(a: Any, b: torch.Tensor, atol: float = 1e-4) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4)


def _int_answer(value: Any, what: str) -> int:
    if _is_stub(value):
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what).replace("`raise NotImplementedError()` line",
                                                                    "`...`"))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise CheckFailed(f"{what} should be a whole number (an int), got {value!r}")
    return int(value)


# ----------------------------------------------------------------- 09: batch norm in NumPy
# Exercises 1 and 4 are written in NumPy (as CS231n's layers.py): the checks hand the
# learner's function float64 NumPy arrays, want NumPy arrays back, and while it runs make
# PyTorch's own batch norm and autograd raise, so that neither can stand in for the answer.
_AXES = (0, 2, 3)   # a BatchNorm2d's statistics: over N, H and W, one per channel


class _TorchShortcut(CheckFailed):
    """Raised when the learner's function calls PyTorch's batch norm or autograd."""


@contextlib.contextmanager
def _no_torch_shortcuts(what: str):
    """While the learner's ``what`` runs, PyTorch's batch norm and autograd raise
    :class:`_TorchShortcut` with a message that says why."""
    message = (f"{what} called {{name}}: this exercise asks for batch norm written by hand in NumPy "
               "(np.mean, np.var, np.sqrt, np.sum), not PyTorch's batch norm or autograd")
    targets = [(F, "batch_norm", "torch.nn.functional.batch_norm"), (torch, "batch_norm", "torch.batch_norm"),
               (torch, "native_batch_norm", "torch.native_batch_norm"),
               (torch.autograd, "grad", "torch.autograd.grad"), (torch.autograd, "backward", "torch.autograd.backward"),
               (torch.Tensor, "backward", "Tensor.backward")]
    try:
        import torch.func as tfunc
        targets += [(tfunc, name, f"torch.func.{name}") for name in ("grad", "vjp", "jacrev", "jacfwd")
                    if hasattr(tfunc, name)]
    except ImportError:  # pragma: no cover - old PyTorch
        pass
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]

    def refuse(name: str) -> Callable:
        def raiser(*args: Any, **kwargs: Any) -> Any:
            raise _TorchShortcut(message.format(name=name))
        return raiser

    try:
        for obj, attr, name in targets:
            setattr(obj, attr, refuse(name))
        yield
    finally:
        for obj, attr, original in saved:
            setattr(obj, attr, original)


def _call_numpy(fn: Callable, what: str, *args: Any) -> Any:
    """Call the learner's NumPy function on copies of ``args`` with the torch shortcuts off."""
    with _no_torch_shortcuts(what):
        return _call(fn, what, *(a.copy() if isinstance(a, np.ndarray) else a for a in args))


def _numpy_result(value: Any, what: str) -> np.ndarray:
    if _is_stub(value):
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what.split(" ")[0]))
    if isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} is a torch tensor: this exercise is written in NumPy; the inputs are NumPy "
                          "arrays and the answer must be one too (use np.mean, np.var, ..., not torch)")
    if not isinstance(value, np.ndarray):
        raise CheckFailed(f"{what} should be a NumPy array, got {type(value).__name__}")
    if value.dtype.kind not in "fc":
        raise CheckFailed(f"{what} has dtype {value.dtype}: it should hold floats (the inputs are float64)")
    return value


def _np_close(a: np.ndarray, b: np.ndarray, atol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=1e-5))


def _np_rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return relative_error(a, b) if a.shape == b.shape else float("inf")


def _bn_inputs(gen: torch.Generator, shape: tuple[int, ...], scale: float = 3.0, shift: float = 2.0):
    """x, gamma, beta as float64 NumPy arrays (drawn with torch, so the same on every machine)."""
    c = shape[1]
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * scale + shift).numpy()
    gamma = (torch.rand(c, generator=gen, dtype=torch.float64) + 0.5).numpy()
    beta = torch.randn(c, generator=gen, dtype=torch.float64).numpy()
    return x, gamma, beta


def _bn_reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """PyTorch's batch norm in training mode, on float64 copies of the NumPy inputs."""
    return _running_reference(x, gamma, beta, None, None, True, 0.1, eps)[0]


def _per_channel(v: np.ndarray) -> np.ndarray:
    return v[None, :, None, None]


def _bn_variants(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> list[tuple[np.ndarray, str]]:
    g, b = _per_channel(gamma), _per_channel(beta)
    mean = x.mean(axis=_AXES, keepdims=True)
    var_b = x.var(axis=_AXES, keepdims=True)
    var_u = x.var(axis=_AXES, ddof=1, keepdims=True)
    out = [
        (g * (x - mean) / np.sqrt(var_u + eps) + b,
         "this is the unbiased variance (divided by m - 1); batch norm normalizes with the biased "
         "variance, the mean of (x - mean)^2 over the m = N*H*W values (ddof=0, NumPy's default). "
         "The unbiased one is only used to update running_var"),
        (g * (x - mean) / (np.sqrt(var_b) + eps) + b,
         "eps goes inside the square root: (x - mean) / sqrt(var + eps)"),
        (g * (x - mean) / np.sqrt(var_b) + b, "eps is missing: divide by sqrt(var + eps)"),
        ((x - mean) / np.sqrt(var_b + eps),
         "gamma and beta are missing: scale by gamma and shift by beta after normalizing"),
        (b * (x - mean) / np.sqrt(var_b + eps) + g, "gamma and beta are swapped: y = gamma * x_hat + beta"),
        (g * (x - mean) / np.sqrt(var_b + eps), "beta is missing: shift by beta after scaling by gamma"),
    ]
    for axes, hint in [((0,), "the statistics are over the batch axis only: average over N, H and W (axis=(0, 2, 3)), one mean per channel"),
                       ((1, 2, 3), "these are per-sample statistics (layer norm): batch norm averages over N, H and W, one mean per channel"),
                       ((0, 1, 2, 3), "one mean and variance for the whole array: batch norm keeps one per channel (axis=(0, 2, 3))")]:
        m = x.mean(axis=axes, keepdims=True)
        v = x.var(axis=axes, keepdims=True)
        out.append((g * (x - m) / np.sqrt(v + eps) + b, hint))
    return out


def _running_reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray | None,
                       running_var: np.ndarray | None, training: bool, momentum: float, eps: float):
    """PyTorch's ``F.batch_norm`` on float64 copies: (out, new running mean, new running var);
    running_mean/var None: batch statistics only (training mode), and None comes back for them."""
    t = lambda a: None if a is None else torch.from_numpy(np.array(a, dtype=np.float64))  # noqa: E731
    rm, rv = t(running_mean), t(running_var)   # F.batch_norm updates these in place in training mode
    out = F.batch_norm(t(x), rm, rv, t(gamma), t(beta), training=training, momentum=momentum, eps=eps)
    return out.numpy(), None if rm is None else rm.numpy(), None if rv is None else rv.numpy()


def _running_variants(x: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray,
                      momentum: float) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Typical wrong running averages after one training step, each with the hint that names it."""
    mean, m = x.mean(axis=_AXES), x.size // x.shape[1]
    var_b = x.var(axis=_AXES)
    var_u = var_b * m / (m - 1)
    keep = lambda old, new, w: (1 - w) * old + w * new  # noqa: E731
    return [
        (running_mean, running_var,
         "the running averages came back unchanged: in train mode each call moves them towards this batch's "
         "statistics"),
        (keep(running_mean, mean, 1 - momentum), keep(running_var, var_u, 1 - momentum),
         "momentum is the weight of the new batch's statistic, not of the old running value"),
        (mean, var_u, "the running averages were replaced by this batch's statistics: they should move only "
                      "a step of size momentum towards them"),
        (keep(running_mean, mean, momentum), keep(running_var, var_b, momentum),
         "running_var moved towards the batch's biased variance: PyTorch keeps the unbiased one in running_var "
         "(section 1), while the normalization itself uses the biased one"),
    ]


def _test_mode_variants(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
                        running_var: np.ndarray, eps: float) -> list[tuple[np.ndarray, str]]:
    g, b = _per_channel(gamma), _per_channel(beta)
    rm, rv = _per_channel(running_mean), _per_channel(running_var)
    return [
        (_bn_reference(x, gamma, beta, eps),
         "in test mode this normalized with the batch's own statistics: it should use the running averages, "
         "so that an image's output does not depend on the rest of its batch"),
        (g * (x - rm) / (np.sqrt(rv) + eps) + b, "eps goes inside the square root in test mode too"),
        ((x - rm) / np.sqrt(rv + eps), "gamma and beta are missing in test mode"),
    ]


def _three_arrays(got: Any, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if _is_stub(got):
        raise CheckFailed(NOT_IMPLEMENTED.format(what="batchnorm_forward"))
    if not isinstance(got, tuple) or len(got) != 3:
        raise CheckFailed(f"in {what} mode batchnorm_forward should return a tuple of three arrays "
                          "(out, running_mean, running_var), got " + type(got).__name__
                          + (f" of length {len(got)}" if isinstance(got, tuple) else ""))
    return tuple(_numpy_result(a, f"{name} ({what} mode)")  # type: ignore[return-value]
                 for a, name in zip(got, ("out", "running_mean", "running_var")))


def _check_running_pair(mode: str, c: int, got_mean: np.ndarray, got_var: np.ndarray,
                        want_mean: np.ndarray, want_var: np.ndarray) -> None:
    """Shapes (C,) and the order (mean, var) of the running averages returned in ``mode``."""
    for name, got in (("running_mean", got_mean), ("running_var", got_var)):
        if got.shape != (c,):
            raise CheckFailed(f"in {mode} mode the {name} returned has shape {got.shape}: it holds one value per "
                              f"channel, like the {name} passed in")
    if _np_close(got_mean, want_var) and _np_close(got_var, want_mean) and not _np_close(want_mean, want_var):
        raise CheckFailed(f"in {mode} mode running_mean and running_var came back in each other's place: return "
                          "(out, running_mean, running_var) in that order")


def check_batchnorm_forward(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(x, gamma, beta, running_mean, running_var, mode, momentum, eps)``: batch norm in
    NumPy, as CS231n's ``batchnorm_forward``, with PyTorch's running-average rule.

    x: float64 array (N, C, H, W); gamma, beta, running_mean, running_var: (C,); mode
    ``"train"`` or ``"test"`` -> ``(out (N, C, H, W), new running_mean (C,), new running_var (C,))``.
    Both modes are compared with PyTorch's ``F.batch_norm`` (training=True updates its running
    buffers, training=False reads them); while ``fn`` runs, PyTorch's batch norm and autograd
    raise, and torch tensors are not accepted as the answer.
    """
    gen = torch.Generator().manual_seed(1)
    shapes = [(4, 3, 5, 5), (2, 2, 1, 3)] + ([(8, 5, 3, 2), (3, 1, 4, 4)] if hidden else [])
    for i, shape in enumerate(shapes):
        c = shape[1]
        x, gamma, beta = _bn_inputs(gen, shape)
        running_mean = torch.randn(c, generator=gen, dtype=torch.float64).numpy()
        running_var = (torch.rand(c, generator=gen, dtype=torch.float64) + 0.5).numpy()
        eps = 1e-5 if shape[0] > 2 else 0.1   # a large eps makes its place visible
        momentum = 0.1 if i % 2 == 0 else 0.3  # not only PyTorch's default
        args = (x, gamma, beta, running_mean, running_var)

        want_out, want_mean, want_var = _running_reference(*args, True, momentum, eps)
        out, new_mean, new_var = _three_arrays(
            _call_numpy(fn, "batchnorm_forward", *args, "train", momentum, eps), "train")
        if out.shape != want_out.shape:
            raise CheckFailed(f"in train mode, for x of shape {shape} out has shape {out.shape}: batch norm keeps "
                              "the shape of x; use keepdims=True (or [None, :, None, None]) to broadcast")
        if not _np_close(out, want_out, atol=1e-5):
            hint = next((h for v, h in _bn_variants(x, gamma, beta, eps) if _np_close(out, v, atol=1e-5)), None)
            diff = float(np.abs(out - want_out).max())
            raise CheckFailed(f"in train mode, for x of shape {shape} out differs from PyTorch's batch norm by up "
                              f"to {diff:.3g}" + (f": {hint}" if hint else ": compare each step with section 1: "
                                                  "which statistics, over which axes, and where gamma and beta enter"))
        _check_running_pair("train", c, new_mean, new_var, want_mean, want_var)
        if not (_np_close(new_mean, want_mean) and _np_close(new_var, want_var)):
            hint = next((h for vm, vv, h in _running_variants(x, running_mean, running_var, momentum)
                         if _np_close(new_mean, vm) and _np_close(new_var, vv)), None)
            wrong = " and ".join(name for name, ok in (("running_mean", _np_close(new_mean, want_mean)),
                                                       ("running_var", _np_close(new_var, want_var))) if not ok)
            raise CheckFailed(f"in train mode (momentum {momentum}) the new {wrong} differs from PyTorch's"
                              + (f": {hint}" if hint else ": compare with the update rule in section 1 (the "
                                 "weights of the old value and of the batch's statistic, which of the batch's "
                                 "statistics, and over how many values m)"))

        want_out, _, _ = _running_reference(*args, False, momentum, eps)
        out, same_mean, same_var = _three_arrays(
            _call_numpy(fn, "batchnorm_forward", *args, "test", momentum, eps), "test")
        _check_running_pair("test", c, same_mean, same_var, running_mean, running_var)
        if out.shape != want_out.shape:
            raise CheckFailed(f"in test mode, for x of shape {shape} out has shape {out.shape}: batch norm keeps "
                              "the shape of x")
        if not (_np_close(same_mean, running_mean) and _np_close(same_var, running_var)):
            raise CheckFailed("in test mode the running averages changed: test mode only reads them "
                              "(return running_mean and running_var as they came in)")
        if not _np_close(out, want_out, atol=1e-5):
            hint = next((h for v, h in _test_mode_variants(*args, eps) if _np_close(out, v, atol=1e-5)), None)
            diff = float(np.abs(out - want_out).max())
            raise CheckFailed(f"in test mode, for x of shape {shape} out differs from PyTorch's batch norm in eval "
                              f"mode by up to {diff:.3g}" + (f": {hint}" if hint else ": which statistics does "
                                                              "test mode normalize with?"))
    passed("batchnorm_forward")


# ------------------------------------------------------------ 09: parameters and buffers
# Exercise 2's network: a 3x32x32 colour image, two conv blocks and a hidden linear layer,
# each followed by a batch norm (BatchNorm1d after the Linear), trained in batches of 36.
BN_EXERCISE_BATCH = 36


def bn_exercise_net() -> nn.Sequential:
    """The network of notebook 09's exercise 2: (N, 3, 32, 32) -> (N, 10)."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Linear(128, 10))


def _bn_layer_facts(batch: int) -> tuple[int, int, list[int], list[int]]:
    """Parameters and buffer values of the exercise net's batch-norm layers, and for each
    of them the number of features and the values m it averages per feature in train()."""
    net = bn_exercise_net().train()
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    seen: list[int] = []
    hooks = [bn.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].numel() // inp[0].shape[1]))
             for bn in bns]
    with torch.no_grad():
        net(torch.zeros(batch, 3, 32, 32))
    for h in hooks:
        h.remove()
    params = sum(p.numel() for bn in bns for p in bn.parameters())
    buffers = sum(b.numel() for bn in bns for b in bn.buffers())
    return params, buffers, [bn.num_features for bn in bns], seen


def check_bn_counts(bn_params: Any, bn_buffers: Any, m_conv2: Any, m_linear: Any,
                    batch: int = BN_EXERCISE_BATCH) -> None:
    """Exercise 2: the batch-norm layers of :func:`bn_exercise_net` together (learnable
    parameters, buffer values), and the values m that its second BatchNorm2d and its
    BatchNorm1d average per channel / feature for a batch of ``batch`` images in train().
    Wrong answers get a hint, never the right count."""
    bn_params = _int_answer(bn_params, "bn_params")
    bn_buffers = _int_answer(bn_buffers, "bn_buffers")
    m_conv2 = _int_answer(m_conv2, "m_conv2")
    m_linear = _int_answer(m_linear, "m_linear")
    exp_p, exp_b, features, m_seen = _bn_layer_facts(batch)
    total, n = sum(features), len(features)
    conv_only = sum(features[:-1])
    if bn_params != exp_p:
        hints = {total: "there are two learned vectors per channel or feature: gamma (weight) and beta (bias)",
                 4 * total: "running_mean and running_var are buffers, not parameters: the optimizer never updates them",
                 4 * total + n: "the running statistics and the counter are buffers, not parameters",
                 2 * conv_only: "the BatchNorm1d after the Linear layer has a gamma and a beta per feature too",
                 2 * max(features): "add up all the batch-norm layers, not only the widest",
                 2 * 64: "that is one BatchNorm2d(64), the layer of section 1"}
        hint = hints.get(bn_params, "gamma and beta, one value each per channel (or feature), summed over the layers")
        raise CheckFailed(f"bn_params is {bn_params}, which is not right: {hint}")
    if bn_buffers != exp_b:
        hints = {2 * total: "also count num_batches_tracked, one integer per layer (look at bn.state_dict())",
                 2 * total + 1: "num_batches_tracked is one integer per layer: each of the layers has its own",
                 total: "running_mean and running_var have one value each per channel or feature",
                 total + n: "running_mean and running_var have one value each per channel or feature",
                 4 * total + n: "gamma and beta are parameters, not buffers",
                 2 * conv_only + n - 1: "the BatchNorm1d has the same buffers as a BatchNorm2d",
                 2 * conv_only: "the BatchNorm1d has the same buffers as a BatchNorm2d, and each layer has a counter",
                 2 * 64 + 1: "that is one BatchNorm2d(64), the layer of section 1"}
        hint = hints.get(bn_buffers, "list one layer's buffers with dict(bn.named_buffers())")
        raise CheckFailed(f"bn_buffers is {bn_buffers}, which is not right: {hint}")
    m2 = m_seen[1]
    if m_conv2 != m2:
        hw = m2 // batch
        hints = {batch: "a BatchNorm2d averages over H and W as well as over the batch: m = N * H * W",
                 hw: "the statistics are over the whole batch: m = N * H * W, the N images too",
                 batch * hw * 4: "the second convolution sees the maps after the first max-pooling",
                 batch * hw // 4: "the second max-pooling comes after this batch norm: it sees the maps before pooling",
                 m2 * features[1]: "that counts every channel: a BatchNorm2d keeps one mean per channel, "
                                   "so m counts the values of ONE channel",
                 m2 - 1: "m is the number of values (N * H * W); m - 1 only appears in the unbiased variance"}
        hint = hints.get(m_conv2, "the values of one channel in the batch: N * H * W at that layer")
        raise CheckFailed(f"m_conv2 is {m_conv2}, which is not right: {hint}")
    if m_linear != m_seen[2]:
        hints = {features[2]: "that is the number of features; m counts the values ONE feature takes in a batch",
                 batch * features[2]: "a BatchNorm1d keeps one mean per feature: m counts one feature's values",
                 m2: "after Flatten and Linear there are no H and W: the input of BatchNorm1d is (N, features)",
                 1: "each feature's mean is over the batch, not over one image",
                 batch - 1: "m is the number of values; m - 1 only appears in the unbiased variance"}
        hint = hints.get(m_linear, "BatchNorm1d on an (N, features) input: the statistics of one feature over the batch")
        raise CheckFailed(f"m_linear is {m_linear}, which is not right: {hint}")
    print("Why: the optimizer updates only parameters (gamma, beta); the running averages and the batch counter "
          "are buffers. A BatchNorm1d after a Linear layer has no H and W, so each feature is normalized over "
          "the batch alone: with small batches its statistics are noisy.")
    passed("batch-norm counts")


# ------------------------------------------------------------ 09: batch norm backward
def _bn_backward_reference(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float):
    """dx, dgamma, dbeta by PyTorch's autograd through F.batch_norm (beta = 0), as NumPy arrays."""
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    gt = torch.from_numpy(gamma.copy()).requires_grad_(True)
    bt = torch.zeros_like(gt, requires_grad=True)
    y = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    return tuple(g.numpy() for g in torch.autograd.grad(y, (xt, gt, bt), torch.from_numpy(dout.copy())))


def _bn_forward_np(x: np.ndarray, gamma: np.ndarray, eps: float) -> np.ndarray:
    """The reference forward in NumPy (beta = 0), for the numerical gradient."""
    xhat = (x - x.mean(axis=_AXES, keepdims=True)) / np.sqrt(x.var(axis=_AXES, keepdims=True) + eps)
    return _per_channel(gamma) * xhat


def _numerical_dx(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of sum(dout * batchnorm(x)) with respect to each entry of x (float64)."""
    return numerical_gradient(lambda t: float(np.sum(dout * _bn_forward_np(t, gamma, eps))), x.copy())


def check_batchnorm_backward(fn: Callable[..., Any], hidden: bool = False) -> None:
    """``fn(dout, x, gamma, eps) -> (dx, dgamma, dbeta)``: the backward pass of batch norm in
    training mode, in NumPy; dout, x: float64 arrays (N, C, H, W), gamma: (C,).

    dx is compared with a numerical gradient (central differences, float64) on a small
    case, then dx, dgamma and dbeta with PyTorch's autograd on F.batch_norm. While ``fn``
    runs, PyTorch's batch norm and autograd raise; torch tensors are not accepted.
    """
    gen = torch.Generator().manual_seed(5)
    shapes = [(3, 2, 2, 2), (4, 3, 3, 2)] + ([(2, 4, 3, 3), (5, 1, 2, 1)] if hidden else [])
    for i, shape in enumerate(shapes):
        c = shape[1]
        x, gamma, _ = _bn_inputs(gen, shape, scale=2.0, shift=1.0)
        dout = torch.randn(shape, generator=gen, dtype=torch.float64).numpy()
        eps = 1e-5
        ref_dx, ref_dgamma, ref_dbeta = _bn_backward_reference(dout, x, gamma, eps)
        got = _call_numpy(fn, "batchnorm_backward", dout, x, gamma, eps)
        if _is_stub(got):
            raise CheckFailed(NOT_IMPLEMENTED.format(what="batchnorm_backward"))
        if not isinstance(got, tuple) or len(got) != 3:
            raise CheckFailed("batchnorm_backward should return a tuple of three arrays (dx, dgamma, dbeta)")
        dx, dgamma, dbeta = (_numpy_result(t, name) for t, name in zip(got, ("dx", "dgamma", "dbeta")))
        for name, t, want in (("dx", dx, shape), ("dgamma", dgamma, (c,)), ("dbeta", dbeta, (c,))):
            if tuple(t.shape) != tuple(want):
                what = "x" if name == "dx" else "gamma (one value per channel: sum over N, H and W)"
                raise CheckFailed(f"for x of shape {shape}, {name} has shape {tuple(t.shape)}: it must have "
                                  f"the shape of {what}")
        if i == 0:   # the numerical gradient check, as a learner would run it
            err = _np_rel_error(dx, _numerical_dx(dout, x, gamma, eps))
            verdict = ("below 1e-6, as it should be" if err < 1e-6 else f"{err:.1e}; a right dx gives less than 1e-6")
            print(f"numerical gradient check of dx (x of shape {shape}, float64 central differences): "
                  f"relative error {verdict}")
        if not _np_close(dbeta, ref_dbeta):
            hint = ("it has one sign flipped: L grows with beta as dout says" if _np_close(-dbeta, ref_dbeta) else
                    "beta is added to every position of its channel: which entries of dout does its gradient collect?")
            raise CheckFailed(f"dbeta is wrong: {hint}")
        if not _np_close(dgamma, ref_dgamma):
            mean = x.mean(axis=_AXES, keepdims=True)
            xhat_u = (x - mean) / np.sqrt(x.var(axis=_AXES, ddof=1, keepdims=True) + eps)
            hint = ("it equals dbeta, as if gamma were added; gamma multiplies the normalized x"
                    if _np_close(dgamma, ref_dbeta) else
                    "x_hat uses the biased variance (ddof=0)" if _np_close(dgamma, (dout * xhat_u).sum(axis=_AXES))
                    else "gamma multiplies the normalized x at every position of its channel")
            raise CheckFailed(f"dgamma is wrong: {hint}")
        if not _np_close(dx, ref_dx):
            g = _per_channel(gamma)
            std = np.sqrt(x.var(axis=_AXES, keepdims=True) + eps)
            xhat = (x - x.mean(axis=_AXES, keepdims=True)) / std
            m = x.size // c
            dxhat = dout * g
            mean_ = lambda a: a.mean(axis=_AXES, keepdims=True)  # noqa: E731
            variants = [
                (dxhat / std, "dx treats the mean and variance as constants: both depend on x too, and each "
                              "adds a path from x to y"),
                ((dxhat - mean_(dxhat)) / std, "the path through the variance is missing"),
                ((dxhat - xhat * mean_(dxhat * xhat)) / std, "the path through the mean is missing"),
                ((dout - mean_(dout) - xhat * mean_(dout * xhat)) / std,
                 "gamma is missing: the gradient reaching x_hat is dout * gamma"),
                ((m * dxhat - dxhat.sum(axis=_AXES, keepdims=True) - xhat * (dxhat * xhat).sum(axis=_AXES, keepdims=True))
                 / ((m - 1) * std),
                 "divide by m = N*H*W, not m - 1: the normalization uses the biased variance"),
            ]
            hint = next((h for v, h in variants if _np_close(dx, v)), None)
            raise CheckFailed(f"for x of shape {shape} dx differs from the true gradient (relative error "
                              f"{_np_rel_error(dx, ref_dx):.1e})"
                              + (f": {hint}" if hint else ": x reaches y directly, through the mean and through the "
                                 "variance; check each path on a tiny input with the numerical gradient"))
    print("Why: x enters y three times (directly, through the mean and through the variance); the two "
          "extra terms make dx sum to zero over each channel and be orthogonal to x_hat.")
    passed("batchnorm_backward")


# ---------------------------------------------------------------- 10: residual block
def _random_bn_statistics(model: nn.Module, gen: torch.Generator) -> None:
    """Give every BatchNorm2d of ``model`` random running statistics and affine parameters, so
    that an eval-mode comparison also tests where the learner applies them."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.normal_(0, 0.5, generator=gen)


def _reference_and_student(make_ref, block_cls, args: tuple, gen: torch.Generator, seed: int, what: str):
    """The reference block (seeded, random BatchNorm statistics, eval mode) and the learner's
    block built with the same ``args``; a stubbed ``__init__`` fails with the stub message."""
    torch.manual_seed(seed)
    ref = make_ref(*args)
    _random_bn_statistics(ref, gen)
    ref.eval()
    try:
        student = block_cls(*args)
    except NotImplementedError:
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what)) from None
    return ref, student


def block_params(in_channels: int, out_channels: int, stride: int) -> int:
    """Parameters of a ResNet basic block (convs without bias, BN, projection if needed)."""
    from ..models.resnet import BasicBlock

    return sum(p.numel() for p in BasicBlock(in_channels, out_channels, stride).parameters())


def check_block_params(answer: Any, in_channels: int = 64, out_channels: int = 128, stride: int = 2) -> None:
    """Parameters of ``BasicBlock(64, 128, stride=2)`` (with its projection shortcut)."""
    got = _int_answer(answer, "block_params")
    expected = block_params(in_channels, out_channels, stride)
    conv = 9 * in_channels * out_channels + 9 * out_channels * out_channels
    proj = in_channels * out_channels
    bn = 2 * out_channels
    mistakes = {
        conv + 2 * bn: "the projection shortcut is missing: the block changes the shape, so its shortcut "
                       "is a 1x1 convolution (C_in * C_out weights) plus a BatchNorm",
        conv + 2 * bn + proj: "the projection's BatchNorm is missing (2 * C_out parameters)",
        conv + proj: "the BatchNorm layers are missing: each has 2 * C_out parameters (gamma, beta)",
        conv: "count the projection shortcut (1x1 conv) and the BatchNorm layers (2 * C_out each)",
        expected + 3 * out_channels: "the convolutions have no bias here (bias=False, BatchNorm follows)",
        9 * in_channels * out_channels * 2 + 3 * bn + proj: "the second 3x3 convolution maps C_out -> C_out channels, not C_in -> C_out",
        expected + 6 * out_channels: "BatchNorm's running_mean/running_var are buffers, not parameters",
    }
    if got != expected:
        raise CheckFailed(f"block_params is {got}, which is not right"
                          + (f": {mistakes[got]}" if got in mistakes else
                             ": add the two 3x3 convolutions, the 1x1 projection and three BatchNorm layers"))
    print("Why: the projection is the price of changing the shape; blocks that keep it add x for free.")
    passed("block_params")


# ------------------------------------------------------- 10: pre-activation residual block
class _PreActReference(nn.Module):
    """The pre-activation block of He et al. (2016b), "Identity Mappings in Deep Residual
    Networks": BN-ReLU-conv-BN-ReLU-conv, the shortcut added last with nothing after it.
    x: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride). The projection (shapes change)
    is a 1x1 convolution without bias and without BatchNorm."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.projection = stride != 1 or in_channels != out_channels
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False) if self.projection
                         else nn.Identity())

    def forward(self, x: torch.Tensor, shortcut_reads_preactivation: bool = False) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        # the authors' code feeds the projection relu(bn1(x)); x itself is the other common choice
        return out + self.shortcut(a if self.projection and shortcut_reads_preactivation else x)


_PREACT_LAYERS = (("bn1", nn.BatchNorm2d), ("conv1", nn.Conv2d), ("bn2", nn.BatchNorm2d), ("conv2", nn.Conv2d))


def _preact_structure(student: nn.Module, ref: _PreActReference, what: str) -> nn.Conv2d | None:
    """Check the layers' kinds and sizes; return the student's projection convolution (or None)."""
    for name, kind in _PREACT_LAYERS:
        mod = getattr(student, name, None)
        if not isinstance(mod, kind):
            raise CheckFailed(f"{what}: the block needs an attribute {name} of type {kind.__name__} "
                              "(the names the exercise lists: bn1, conv1, bn2, conv2, shortcut)")
    cin, cout = ref.conv1.in_channels, ref.conv1.out_channels
    if student.bn1.num_features != cin:
        raise CheckFailed(f"{what}: bn1 has {student.bn1.num_features} channels. In a pre-activation block "
                          "bn1 comes BEFORE conv1: it normalizes the block's input, not conv1's output")
    if student.bn2.num_features != cout:
        raise CheckFailed(f"{what}: bn2 has {student.bn2.num_features} channels; it normalizes conv1's output")
    for name in ("conv1", "conv2"):
        conv, rconv = getattr(student, name), getattr(ref, name)
        if conv.kernel_size != (3, 3) or conv.padding != (1, 1):
            raise CheckFailed(f"{what}: {name} should be a 3x3 convolution with padding 1")
        if (conv.in_channels, conv.out_channels) != (rconv.in_channels, rconv.out_channels):
            raise CheckFailed(f"{what}: {name} maps {conv.in_channels} -> {conv.out_channels} channels: conv1 "
                              "maps in_channels to out_channels, conv2 keeps out_channels")
        if conv.bias is not None:
            raise CheckFailed(f"{what}: {name} has a bias: use bias=False (a BatchNorm follows it, or the "
                              "next block's bn1 does)")
    if student.conv1.stride != ref.conv1.stride or student.conv2.stride != (1, 1):
        raise CheckFailed(f"{what}: the strides are conv1 {student.conv1.stride[0]}, conv2 "
                          f"{student.conv2.stride[0]}: conv1 carries the block's stride, conv2 has stride 1")
    sc = getattr(student, "shortcut", None)
    if not isinstance(sc, nn.Module):
        raise CheckFailed(f"{what}: self.shortcut should be a module (nn.Identity() or a 1x1 convolution), "
                          f"got {type(sc).__name__}")
    convs = [m for m in sc.modules() if isinstance(m, nn.Conv2d)]
    if not ref.projection:
        if any(True for _ in sc.parameters()):
            raise CheckFailed(f"{what}: the input and output shapes are the same (stride 1, same channels), so the "
                              "shortcut is the identity: nn.Identity(), no projection and no parameters")
        return None
    if not convs:
        raise CheckFailed(f"{what}: this block changes the shape (a stride or a new channel count), so x cannot "
                          "be added to F(x) as it is: the projection shortcut is missing (a 1x1 convolution "
                          "with the block's stride)")
    if any(isinstance(m, nn.BatchNorm2d) for m in sc.modules()):
        raise CheckFailed(f"{what}: the projection has a BatchNorm. In a pre-activation block nothing follows "
                          "the addition and the next block's bn1 normalizes the sum: the projection is a 1x1 "
                          "convolution alone")
    if len(convs) != 1:
        raise CheckFailed(f"{what}: the projection is one 1x1 convolution, not {len(convs)}")
    conv = convs[0]
    if conv.kernel_size != (1, 1):
        raise CheckFailed(f"{what}: the projection uses a {conv.kernel_size[0]}x{conv.kernel_size[1]} kernel: it "
                          "is a 1x1 convolution (it only matches channels and, with its stride, the size)")
    if conv.stride != ref.shortcut.stride:
        raise CheckFailed(f"{what}: the projection's stride is {conv.stride[0]}, different from the block's: "
                          "give the 1x1 convolution the block's stride, or x and F(x) have different H and W")
    if (conv.in_channels, conv.out_channels) != (cin, cout):
        raise CheckFailed(f"{what}: the projection maps {conv.in_channels} -> {conv.out_channels} channels: it "
                          "maps the block's in_channels to its out_channels")
    if conv.bias is not None:
        raise CheckFailed(f"{what}: the projection convolution has a bias: use bias=False")
    return conv


def _preact_variants(ref: _PreActReference, x: torch.Tensor) -> list[tuple[Callable[[], torch.Tensor], str]]:
    """What typical wrong forwards compute, each with the mistake it names."""
    b1, c1, b2, c2, sc = ref.bn1, ref.conv1, ref.bn2, ref.conv2, ref.shortcut
    return [
        (lambda: F.relu(ref(x)), "there is a ReLU after the addition: a pre-activation block returns x + F(x) as it "
                                 "is (the next block starts with its own BN and ReLU), so the identity path stays clean"),
        (lambda: F.relu(ref(x, True)), "there is a ReLU after the addition: a pre-activation block returns "
                                       "x + F(x) as it is"),
        (lambda: c2(b2(F.relu(c1(b1(F.relu(x)))))) + sc(x),
         "BatchNorm and ReLU are in the wrong order: each pre-activation is BN first, then ReLU, then the convolution"),
        (lambda: c2(F.relu(b2(c1(b1(x))))) + sc(x),
         "the ReLU after bn1 is missing: each convolution is preceded by BN and ReLU"),
        (lambda: c2(b2(c1(F.relu(b1(x))))) + sc(x),
         "the ReLU after bn2 is missing: each convolution is preceded by BN and ReLU"),
        (lambda: F.relu(b2(c2(F.relu(b1(c1(x)))))) + sc(x),
         "this is the post-activation order (conv, then BN and ReLU): in a pre-activation block BN and ReLU come "
         "BEFORE each convolution"),
        (lambda: F.relu(b2(c2(F.relu(b1(c1(x))))) + sc(x)),
         "this is the original post-activation block (conv-BN-ReLU, ReLU after the addition): move BN and ReLU "
         "before each convolution and drop the ReLU after the addition"),
        (lambda: c2(F.relu(b2(c1(F.relu(b1(x)))))), "the shortcut is missing: add shortcut(x) at the end"),
    ]


def check_preact_block(block_cls: type[nn.Module], hidden: bool = False) -> None:
    """``block_cls(in_channels, out_channels, stride)`` is a pre-activation residual block
    (He et al. 2016b): x: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride),
    ``conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut(x)``.

    For an identity case and a projection case (stride 2, more channels; ``hidden`` adds
    two more): the layers' kinds and sizes, the parameter count, the output in eval mode
    (random BatchNorm statistics, the reference's weights copied in) against a reference
    block, and its behaviour: with conv2's weights zeroed the block is exactly the identity,
    in train and eval mode, and passes a gradient of exactly 1 to its input. The projection
    may read x or relu(bn1(x)) (the authors' code); both are accepted. Feedback names the
    mistake, never the expected values.
    """
    cases = [(8, 8, 1), (8, 16, 2)] + ([(4, 12, 1), (6, 6, 2)] if hidden else [])
    gen = torch.Generator().manual_seed(7)
    for cin, cout, stride in cases:
        what = f"PreActBlock({cin}, {cout}, stride={stride})"
        ref, student = _reference_and_student(_PreActReference, block_cls, (cin, cout, stride), gen, 8,
                                              "PreActBlock.__init__")
        if not isinstance(student, nn.Module):
            raise CheckFailed(f"{what} should be an nn.Module, got {type(student).__name__}")
        if _is_stub(getattr(student, "shortcut", None)):
            raise CheckFailed(f"{what}: self.shortcut is not set yet: nn.Identity() or a 1x1 convolution")
        proj = _preact_structure(student, ref, what)
        n_student = sum(p.numel() for p in student.parameters())
        if n_student != sum(p.numel() for p in ref.parameters()):
            raise CheckFailed(f"{what} has {n_student} parameters, which is not right: besides bn1, conv1, bn2, conv2 "
                              "and the projection (when the shape changes) the block has no learned layer")
        for name, _ in _PREACT_LAYERS:
            getattr(student, name).load_state_dict(getattr(ref, name).state_dict())
        if proj is not None:
            proj.load_state_dict(ref.shortcut.state_dict())
        student.eval()
        x = torch.randn(2, cin, 8, 8, generator=gen)   # negative entries too: they show a ReLU after the sum
        with torch.no_grad():
            try:
                got = student(x)
            except NotImplementedError:
                raise CheckFailed(NOT_IMPLEMENTED.format(what="PreActBlock.forward")) from None
            except RuntimeError as err:
                if "size of tensor" in str(err) or "must match" in str(err):
                    raise CheckFailed(f"{what}: F(x) and the shortcut have different shapes at the addition: a "
                                      "block that changes the shape adds the projection shortcut(x), not x") from None
                raise CheckFailed(f"{what}: the forward pass fails ({str(err).splitlines()[0]}): each BatchNorm "
                                  "must see as many channels as the tensor it normalizes") from None
            if _is_stub(got):
                raise CheckFailed(NOT_IMPLEMENTED.format(what="PreActBlock.forward"))
            expected = ref(x)
            if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise CheckFailed(f"{what} returned {shape}: the output has out_channels channels and H and W "
                                  "divided by the stride (conv1 carries the stride)")
            if not (_close(got, expected) or (ref.projection and _close(got, ref(x, True)))):
                hint = None
                for variant, text in _preact_variants(ref, x):
                    try:
                        value = variant()
                    except RuntimeError:
                        continue
                    if value is not None and _close(got, value):
                        hint = text
                        break
                raise CheckFailed(f"{what} gives different values from a pre-activation block"
                                  + (f": {hint}" if hint else ": check the order BN, ReLU, conv (twice) and that "
                                     "the shortcut is added last, with nothing after the addition"))
        if proj is None:   # behaviour: with F(x) = 0 the block is the identity, gradient 1 through it
            with torch.no_grad():
                student.conv2.weight.zero_()
            for mode in ("eval", "train"):
                student.train(mode == "train")
                xi = x.clone().requires_grad_(True)
                out = student(xi)
                if not (isinstance(out, torch.Tensor) and torch.allclose(out, xi, atol=1e-6)):
                    raise CheckFailed(f"{what} with conv2's weights zeroed (F(x) = 0) does not return x in {mode} "
                                      "mode: nothing may follow the addition x + F(x)")
                (grad,) = torch.autograd.grad(out.sum(), xi)
                if not torch.allclose(grad, torch.ones_like(grad)):
                    raise CheckFailed(f"{what} with conv2's weights zeroed does not pass the gradient 1 back to x "
                                      f"in {mode} mode: the identity path must reach the output untouched")
    print("Why: with nothing after the addition, x_L = x_l + sum of the residuals, so the gradient "
          "reaches every earlier block through a clean identity path (He et al. 2016b).")
    passed("PreActBlock")


# ---------------------------------------------------------------------- 11: DenseNet
def check_dense_channels(after_block: Any, after_transition: Any, size_after_transition: Any,
                         c0: int = 24, layers: int = 16, k: int = 12, size: int = 52) -> None:
    """A dense block of ``layers`` layers with growth rate ``k`` on ``c0`` channels of
    ``size`` x ``size``, then a transition (compression 0.5, 2x2 average pooling, stride 2).
    Wrong answers get a hint that names the mistake, never the right value."""
    n = layers
    after_block = _int_answer(after_block, "after_block")
    after_transition = _int_answer(after_transition, "after_transition")
    size_after_transition = _int_answer(size_after_transition, "size_after_transition")
    exp_block = c0 + n * k
    mistakes = {
        n * k: "the block's output also contains its input: C0 + l * k, not l * k",
        c0 * 2 ** n: "channels do not double per layer: each layer adds k channels (linear growth, C0 + l * k)",
        c0 + k: "that is after one layer; every layer of the block adds k channels",
        c0 + (n - 1) * k: "every layer adds k channels, the last one too (its output is concatenated as well)",
        c0 * k: "channels are added, not multiplied: C0 + l * k",
        64 + 6 * 32: "that is DenseNet-121's first block (section 2); use this block's C0, k and number of layers",
    }
    if after_block != exp_block:
        hint = mistakes.get(after_block, "C0 + l * k")
        raise CheckFailed(f"after_block is {after_block}, which is not right: {hint}")
    exp_trans = exp_block // 2
    if after_transition != exp_trans:
        hint = {exp_block: "the transition's 1x1 convolution compresses by 0.5 (DenseNet-BC): half the channels",
                c0: "the transition halves the block's output channels; it does not return to C0",
                exp_block * 2: "compression 0.5 halves the channels; it does not double them"}.get(
                    after_transition, "floor(0.5 * channels after the block)")
        raise CheckFailed(f"after_transition is {after_transition}, which is not right: {hint}")
    if size_after_transition != size // 2:
        hint = {size: "the 2x2 average pooling with stride 2 halves H and W",
                size - 1: "the pooling has stride 2 (non-overlapping 2x2 windows): it halves H and W",
                size // 4: "only the transition's pooling changes the size; the dense block keeps H and W"}.get(
                    size_after_transition, "2x2 average pooling with stride 2: floor(H / 2)")
        raise CheckFailed(f"size_after_transition is {size_after_transition}, which is not right: {hint}")
    print("Why: growth is linear (k per layer); the transition is where DenseNet pays back the width.")
    passed("dense channels")


def check_dense_forward(fn: Callable[[torch.Tensor, nn.ModuleList], torch.Tensor], hidden: bool = False) -> None:
    """``fn(x, layers)``: the forward pass of a dense block.

    Each layer gets the concatenation of x and all earlier outputs and returns k new
    channels; the result is the concatenation of x and all outputs:
    (N, C0, H, W) -> (N, C0 + L * k, H, W).
    """
    from ..models.densenet import DenseBlock

    cases = [(2, 6, 4, 5), (3, 6, 3, 4)] + ([(1, 5, 7, 3), (4, 4, 2, 1)] if hidden else [])
    for n_layers, c0, k, size in cases:
        torch.manual_seed(4)
        block = DenseBlock(n_layers, c0, k, bn_size=2).eval()
        layers = nn.ModuleList(block.children())
        x = torch.randn(2, c0, size, size)
        expected_shape = (2, c0 + n_layers * k, size, size)
        with torch.no_grad():
            try:
                got = fn(x, layers)
            except NotImplementedError:
                raise CheckFailed(NOT_IMPLEMENTED.format(what="dense_block_forward")) from None
            except RuntimeError as err:
                raise CheckFailed(f"with {n_layers} layers, C0 = {c0}, k = {k} a layer got an input with the wrong "
                                  f"number of channels ({str(err).splitlines()[0]}): layer i expects C0 + i * k "
                                  "channels, the concatenation of x and ALL earlier outputs, not just the last one") from None
            expected = block(x)
            if _is_stub(got):
                raise CheckFailed(NOT_IMPLEMENTED.format(what="dense_block_forward"))
            if not isinstance(got, torch.Tensor):
                raise CheckFailed(f"dense_block_forward should return a tensor, got {type(got).__name__}")
            if tuple(got.shape) != expected_shape:
                c = got.shape[1] if got.ndim == 4 else None
                hint = {k: "only the last layer's output is returned: return the concatenation of x and every layer's output",
                        n_layers * k: "the block's input x is part of its output too: torch.cat([x, out_1, ..., out_L], dim=1)",
                        c0: "the outputs are added, not concatenated: DenseNet uses torch.cat(..., dim=1)"}.get(c)
                if got.ndim == 4 and got.shape[1] == 2 and got.shape[0] != 2:
                    hint = "concatenate along the channel axis, dim=1"
                raise CheckFailed(f"with {n_layers} layers, C0 = {c0}, k = {k}: output shape {tuple(got.shape)} is not "
                                  "right" + (f": {hint}" if hint else ": (N, C0 + L * k, H, W)"))
            expect_true(_close(got, expected),
                        f"with {n_layers} layers, C0 = {c0}, k = {k}: the shape is right but the values differ: keep the "
                        "order [x, out_1, ..., out_L] and feed each layer torch.cat of everything before it")
    passed("dense_block_forward")


protect(globals())

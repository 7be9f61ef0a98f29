"""Checks for the exercises of notebook 05 (fully connected head, softmax, LeNet).

- :func:`check_softmax`: a numerically stable softmax over the class axis;
- :func:`check_lenet_params`: parameter counts of LeNet's conv2 and fc1;
- :func:`check_flatten_size`: the number of features LeNet's classifier receives.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .core import NOT_IMPLEMENTED, CheckFailed, passed, plain, protect


def _call(fn: Callable[..., Any], what: str, *args: Any) -> Any:
    try:
        out = fn(*args)
    except NotImplementedError:
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what)) from None
    except RuntimeError as err:
        hint = ""
        if "must match the size" in str(err):
            hint = (": a reduction such as z.max(dim=1) drops the class axis; keep it with keepdim=True "
                    "so that an (N, 1) column broadcasts against the (N, K) logits")
        raise CheckFailed(f"{what} raised RuntimeError: {err}{hint}") from None
    if out is ...:
        raise CheckFailed(NOT_IMPLEMENTED.format(what=what))
    if out is None:
        raise CheckFailed(f"{what} returned None: did you forget the `return` line?")
    return out


def _as_tensor(out: Any, what: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        try:
            out = torch.as_tensor(out)
        except Exception:
            raise CheckFailed(f"{what} should return a tensor, got a {type(out).__name__}") from None
    return out.detach().to(torch.float64)


# ----------------------------------------------------------------------------- softmax
def _softmax_mistakes(z: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """What the typical wrong softmax implementations return for logits ``z``: (N, K)."""
    rowmax = z.amax(dim=1, keepdim=True)
    e = torch.exp(z - rowmax)
    out = [
        (torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True),
         "exp overflows: exp(1000) is inf in float32 (the largest float32 is about 3.4e38 = exp(88.7)) "
         "and inf/inf is NaN. Subtract each row's maximum first: softmax(z) = softmax(z - max(z)), "
         "because the factor exp(-max) cancels between numerator and denominator"),
        (torch.exp(z - z.max()) / torch.exp(z - z.max()).sum(dim=1, keepdim=True),
         "subtract each row's own maximum, z.max(dim=1, keepdim=True).values, not the maximum of the whole "
         "batch: a row far below the batch maximum underflows to exp(-1000) = 0 and gives 0/0 = NaN"),
        (torch.softmax(z, dim=0),
         "your columns sum to 1, not your rows: normalize along the class axis (dim=1 or dim=-1), "
         "not along the batch axis dim=0"),
        (e / e.sum(dim=0, keepdim=True),
         "your columns sum to 1, not your rows: sum over the class axis (dim=1 or dim=-1), "
         "not over the batch axis dim=0"),
        (torch.exp(z - z.max()) / torch.exp(z - z.max()).sum(),
         "the whole batch sums to 1: sum each row separately, e.g. e.sum(dim=1, keepdim=True), "
         "so that every image gets its own probability distribution"),
        (e / e.sum(),
         "the whole batch sums to 1: sum each row separately, e.g. e.sum(dim=1, keepdim=True), "
         "so that every image gets its own probability distribution"),
        (e, "the rows do not sum to 1: divide exp(z - max) by its sum over the classes"),
        (torch.log_softmax(z, dim=1),
         "these are log-probabilities (negative numbers): softmax is exp(z - max) / sum(exp(z - max))"),
    ]
    return out


def _softmax_hint(z: torch.Tensor, got: torch.Tensor) -> str | None:
    """Name the likely mistake of a softmax that returned ``got`` (float64) for logits ``z``: (N, K)."""
    with torch.no_grad():
        for wrong, hint in _softmax_mistakes(z):
            wrong = wrong.to(torch.float64)
            if wrong.shape == got.shape and torch.allclose(got, wrong, atol=1e-5, rtol=1e-4, equal_nan=True):
                return hint
    if not torch.isfinite(got).all():
        return ("the result has NaN or inf values: exp of a large logit overflows; subtract each row's "
                "maximum before exp")
    if (got < 0).any():
        return "probabilities cannot be negative: softmax is exp(z - max) / sum(exp(z - max))"
    if not torch.allclose(got.sum(dim=1), torch.ones(len(got), dtype=got.dtype), atol=1e-4):
        return "each row must sum to 1: divide by the sum over the classes (dim=1)"
    return None


def check_softmax(fn: Callable[[torch.Tensor], torch.Tensor], hidden: bool = False) -> None:
    """``fn(z)``: logits (N, K) -> probabilities (N, K), softmax over the class axis (dim 1).

    Diagnoses: overflow without max subtraction, the wrong axis, a batch-wide max or sum,
    a missing normalization, log-probabilities, a broadcasting slip with ``max(dim=1)``
    and an input modified in place.
    """
    cases = [
        ("small logits", torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])),
        ("a batch of 4 images, 10 classes", torch.linspace(-3, 3, 40).reshape(4, 10)),
        ("a square batch (3 images, 3 classes)", torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0], [-2.0, 1.0, 4.0]])),
        ("large logits", torch.tensor([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]])),
        ("rows on very different scales", torch.tensor([[0.0, 1.0, 2.0], [1000.0, 999.0, 998.0]])),
    ]
    if hidden:
        g = torch.Generator().manual_seed(5)
        cases += [
            ("random logits (7 images, 10 classes)", torch.randn(7, 10, generator=g) * 4),
            ("float64 logits", torch.randn(3, 5, generator=g, dtype=torch.float64) * 300),
            ("one image, two classes", torch.tensor([[-800.0, 800.0]])),
        ]
    for label, z in cases:
        z_in = z.clone()
        out = _call(fn, "softmax", z_in)
        got = _as_tensor(out, "softmax")
        if not torch.equal(z_in, z):
            raise CheckFailed("softmax changed its input in place (e.g. z -= z.max(...)): compute on a new "
                              "tensor, z = z - z.max(dim=1, keepdim=True).values, so the caller's logits stay intact")
        if tuple(got.shape) != tuple(z.shape):
            raise CheckFailed(f"softmax of logits with shape {tuple(z.shape)} ({label}) returned shape "
                              f"{tuple(got.shape)}: the output must have the same (N, K) shape as the input; "
                              "keep the reduced axis with keepdim=True")
        expected = torch.softmax(z.to(torch.float64), dim=1)
        if not torch.allclose(got, expected, atol=1e-5, rtol=1e-4):
            hint = _softmax_hint(z, got)
            msg = f"softmax is wrong for {label}: yours gives {_fmt(got)}"
            raise CheckFailed(msg + (f": {hint}" if hint else ""))
    passed("softmax")


def _fmt(t: torch.Tensor) -> str:
    rows = t[:2].tolist()
    body = "; ".join("[" + ", ".join(f"{v:.4g}" for v in r[:4]) + (", ..." if len(r) > 4 else "") + "]" for r in rows)
    return "[" + body + ("; ..." if len(t) > 2 else "") + "]"


# ----------------------------------------------------------------------------- parameter counts
# Exercise 2 of notebook 05: LeNet(channels=(10, 20), padding=0) on 28x28 digits:
# conv1 5x5 -> 24x24, pool -> 12x12, conv2 (10 -> 20, 5x5) -> 8x8, pool -> 4x4, flatten 20*4*4 = 320.
EX2_CHANNELS, EX2_PADDING = (10, 20), 0
CONV2_PARAMS = 10 * 5 * 5 * 20 + 20          # 5,020
FC1_PARAMS = (20 * 4 * 4) * 120 + 120        # 38,520

_CONV2_HINTS = {
    10 * 25 * 20: "that is the weights only: add one bias per filter",
    10 * 25 * 20 + 10: "there is one bias per *output* channel (filter), not per input channel",
    10 * 25 + 1: "that is one filter: conv2 has one filter per output channel",
    10 * 25 * 20 + 20 + 10: "there is one bias per output channel only",
    25 * 20 + 20: ("each conv2 filter has one 5x5 slice per input channel: it sees all the maps conv1 "
                   "makes"),
    6 * 25 * 20 + 20: "conv1 of this LeNet makes 10 maps, not 6: conv2's input has 10 channels",
    10 * 25 * 16 + 16: "this LeNet's conv2 has 20 filters, not 16",
    10 * 9 * 20 + 20: "LeNet's kernels are 5x5",
}
_FC1_HINTS = {
    320 * 120: "that is the weights only: add one bias per output neuron",
    320 * 120 + 320: "the biases belong to the 120 outputs, not to the inputs",
    400 * 120 + 120: ("that is the notebook's LeNet with padding=2; with padding=0 conv1 already shrinks the "
                      "28x28 digit, and so does every layer after it"),
    500 * 120 + 120: ("the 5x5 maps are those of the padded LeNet: without padding conv1 shrinks the digit, "
                      "so the last pooled maps are smaller"),
    256 * 120 + 120: "this LeNet's conv2 has 20 filters, so the flattened maps have 20 channels",
    1280 * 120 + 120: "that is before the second pooling: pool2 halves height and width once more",
    784 * 120 + 120: "784 inputs is the raw image (an MLP); LeNet's fc1 sees the flattened last feature maps",
    20 * 6 * 6 * 120 + 120: "a 5x5 kernel without padding fits n - 4 times in n pixels, not n - 6",
}


def _count(value: Any, name: str) -> int:
    if value is None or value is ...:
        raise CheckFailed(NOT_IMPLEMENTED.format(what=name).replace(
            "replace the `raise NotImplementedError()` line", f"replace `{name} = ...`"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "item"):
        raise CheckFailed(f"{name} should be a whole number, got {value!r}")
    value = value.item() if hasattr(value, "item") else value
    if float(value) != int(value):
        raise CheckFailed(f"{name} should be a whole number, got {value!r}")
    return int(value)


def check_lenet_params(conv2_params: Any, fc1_params: Any) -> None:
    """Exercise 2 of notebook 05: parameters of conv2 and fc1 of ``LeNet(channels=(10, 20), padding=0)``
    on 28x28 digits (biases included). No failure names the right count."""
    conv2 = _count(conv2_params, "conv2_params")
    fc1 = _count(fc1_params, "fc1_params")
    if conv2 != CONV2_PARAMS:
        hint = _CONV2_HINTS.get(conv2, "count one filter's weights first (it spans every map conv1 makes), "
                                       "then the filters and their biases")
        raise CheckFailed(f"conv2_params = {conv2:,} is not right: {hint}")
    if fc1 != FC1_PARAMS:
        hint = _FC1_HINTS.get(fc1, "trace the map sizes from 28x28 through every layer to find what fc1 reads, "
                                   "then count its weights and biases")
        raise CheckFailed(f"fc1_params = {fc1:,} is not right: {hint}")
    passed("LeNet parameter counts")
    print("  why: conv2's count does not depend on the image size, fc1's does: removing the padding shrank "
          "every map, and fc1 lost more than a third of its weights (against the same LeNet with padding=2) "
          "while conv2 stayed the same.")


# ----------------------------------------------------------------------------- flatten size
def _conv(n: int, k: int, p: int) -> int:
    return n + 2 * p - k + 1


def _lenet_flat(n: int, padding: int, channels: int, conv1: Callable | None = None, pool: Callable | None = None,
                conv2: Callable | None = None, pools: tuple[bool, bool] = (True, True), square: bool = True) -> float:
    """LeNet's flatten size, or a typical wrong version of it when a step is replaced."""
    conv1 = conv1 or (lambda s: _conv(s, 5, padding))
    pool = pool or (lambda s: s // 2)
    conv2 = conv2 or (lambda s: _conv(s, 5, 0))
    s = conv1(n)
    s = pool(s) if pools[0] else s
    s = conv2(s)
    s = pool(s) if pools[1] else s
    return channels * s * s if square else channels * s


# (hint, wrong computation of (input_size, padding, channels)), most specific first
_FLAT_MISTAKES: list[tuple[str, Callable[[int, int, int], float]]] = [
    ("that is the size of one feature map (height * width): multiply by the number of channels of conv2",
     lambda n, p, c: _lenet_flat(n, p, 1)),
    ("height * width * channels: you multiplied the channels by one side only",
     lambda n, p, c: _lenet_flat(n, p, c, square=False)),
    ("pooling with a 2x2 window and stride 2 keeps only whole windows: use floor division (//), not /",
     lambda n, p, c: _lenet_flat(n, p, c, pool=lambda s: s / 2)),
    ("PyTorch's pooling rounds down (floor), not up",
     lambda n, p, c: _lenet_flat(n, p, c, pool=lambda s: math.ceil(s / 2))),
    ("the padding of conv1 seems to be ignored: a 5x5 conv with padding p gives n + 2p - 5 + 1",
     lambda n, p, c: _lenet_flat(n, p, c, conv1=lambda s: _conv(s, 5, 0))),
    ("padding is added on both sides: n + 2p - k + 1, not n + p - k + 1",
     lambda n, p, c: _lenet_flat(n, p, c, conv1=lambda s: s + p - 5 + 1)),
    ("only conv1 is padded; conv2 has padding 0",
     lambda n, p, c: _lenet_flat(n, p, c, conv2=lambda s: _conv(s, 5, p))),
    ("a k x k kernel fits n - k + 1 times in n pixels (+1 for the first position)",
     lambda n, p, c: _lenet_flat(n, p, c, conv1=lambda s: s + 2 * p - 5, conv2=lambda s: s - 5)),
    ("the second pooling is missing: conv1 -> pool -> conv2 -> pool",
     lambda n, p, c: _lenet_flat(n, p, c, pools=(True, False))),
    ("the first pooling is missing: conv1 -> pool -> conv2 -> pool",
     lambda n, p, c: _lenet_flat(n, p, c, pools=(False, True))),
]


def check_flatten_size(fn: Callable[[int, int, int], int], hidden: bool = False) -> None:
    """``fn(input_size, padding, channels)``: features entering LeNet's fc1.

    LeNet here: conv1 5x5 with ``padding`` -> 2x2 max pool -> conv2 5x5 (no padding, ``channels``
    filters) -> 2x2 max pool -> flatten. (28, 2, 16) -> 16*5*5 = 400.

    A wrong answer is matched against typical mistakes on all the cases at once (several
    mistakes give the same number for a 28x28 input), then on the failing case alone.
    """
    args = [(28, 2, 16), (28, 0, 16), (32, 0, 16), (29, 2, 8), (24, 4, 10)]
    if hidden:
        args += [(64, 2, 16), (30, 0, 6), (33, 1, 20)]
    cases = [(a, {}, _lenet_flat(*a)) for a in args]

    def call(*a: int) -> Any:
        out = fn(*a)
        if out is ...:
            raise NotImplementedError
        if out is None:
            raise CheckFailed("flatten_size returned None: did you forget the `return` line?")
        return out

    def answers() -> list[Any]:
        out = []
        for a in args:
            try:
                out.append(fn(*a))
            except Exception:   # noqa: BLE001 - a crash on another case just means no match
                out.append(None)
        return out

    def diagnose(a: tuple, kwargs: dict, got: Any, expected: int) -> str | None:
        if isinstance(got, float) and not got.is_integer():
            return "the size must be a whole number: pooling keeps only whole windows, use floor division (//)"
        all_got = answers()
        for hint, wrong in _FLAT_MISTAKES:
            if all(compare(g, wrong(*b)) for g, b in zip(all_got, args)):
                return hint
        for hint, wrong in _FLAT_MISTAKES:
            if wrong(*a) != expected and compare(got, wrong(*a)):
                return hint
        return None

    def compare(got: Any, expected: float) -> bool:
        if isinstance(got, bool):
            return False
        try:
            return float(got) == expected
        except (TypeError, ValueError):
            return False

    for a, _, expected in cases:
        call_text = "flatten_size(" + ", ".join(map(repr, a)) + ")"
        try:
            got = plain(call(*a))
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="flatten_size")) from None
        if not compare(got, expected):
            hint = diagnose(a, {}, got, expected) or ("trace the side length step by step: conv (n + 2p - k + 1), "
                                                     "pool (floor of n / 2), conv, pool; then channels * side * side")
            raise CheckFailed(f"{call_text} returned {got!r}, which is not right: {hint}")
    passed("flatten_size")


protect(globals())

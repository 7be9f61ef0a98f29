"""Generic checks with actionable messages (see :mod:`cnnlib.checks`)."""
from __future__ import annotations

import functools
import types
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch


class CheckFailed(AssertionError):
    """An exercise check failed; the message says what was wrong and what to try."""


NOT_IMPLEMENTED = (
    "{what} is not implemented yet: replace the `raise NotImplementedError()` line "
    "with your solution and run the cell again."
)


def _fail(message: str, hint: str | None) -> None:
    raise CheckFailed(message + (f": {hint}" if hint else ""))


def _to_np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _show(value: Any, limit: int = 80) -> str:
    """The learner's own value, shortened for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def expect_equal(actual: Any, expected: Any, what: str, hint: str | None = None) -> None:
    """Fail with "``what`` is ``actual``, which is not right: ``hint``" unless equal.

    The message shows the learner's value and the hint, never the expected one: the
    check points at the mistake instead of giving the answer away.
    """
    if isinstance(actual, (np.ndarray, torch.Tensor)) or isinstance(expected, (np.ndarray, torch.Tensor)):
        a, e = _to_np(actual), _to_np(expected)
        if a.shape != e.shape:
            _fail(f"{what} has shape {a.shape}, which is not the right shape", hint)
        if not np.array_equal(a, e):
            wrong = int(np.sum(a != e))
            _fail(f"{what} has the right shape but {wrong} of its {a.size} entries are wrong", hint)
        return
    actual = plain(actual)
    if actual != expected:
        _fail(f"{what} is {_show(actual)}, which is not right", hint)


def expect_shape(value: Any, expected: Sequence[int], what: str, hint: str | None = None) -> None:
    """Fail unless ``value`` (array or tensor) has shape ``expected``.

    The message names the first axis that differs and its size in the learner's value,
    not the expected size.
    """
    expected = tuple(expected)
    if not hasattr(value, "shape"):
        _fail(f"{what} should be an array or tensor with {len(expected)} dimensions, got a {type(value).__name__}", hint)
    shape = tuple(value.shape)
    if shape == expected:
        return
    if len(shape) != len(expected):
        _fail(f"{what} has {len(shape)} dimensions {shape}; it should have {len(expected)}", hint)
    axis = next(i for i, (a, e) in enumerate(zip(shape, expected)) if a != e)
    _fail(f"{what} has shape {shape}: its size along axis {axis} ({shape[axis]}) is "
          f"{'too large' if shape[axis] > expected[axis] else 'too small'}", hint)


def expect_close(actual: Any, expected: Any, what: str, atol: float = 1e-5, rtol: float = 1e-4, hint: str | None = None) -> None:
    """Fail unless ``actual`` and ``expected`` match in shape and are close element-wise.

    The message reports how many entries are off, the largest error and where it is (the
    learner's value there), never the expected values themselves.
    """
    a, e = _to_np(actual).astype(np.float64), _to_np(expected).astype(np.float64)
    if a.shape != e.shape:
        _fail(f"{what} has shape {a.shape}, which is not the right shape", hint)
    if not np.allclose(a, e, atol=atol, rtol=rtol):
        diff = np.abs(a - e)
        bad = ~np.isclose(a, e, atol=atol, rtol=rtol)
        where = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape) if diff.size else ()
        rel = float(np.nanmax(diff / np.maximum(np.abs(e) + np.abs(a), 1e-12))) if diff.size else 0.0
        _fail(f"{what} differs from the reference in {int(bad.sum())} of {a.size} entries: largest error at "
              f"index {tuple(int(i) for i in where)} (yours {a[where]:.4g}), relative error up to {rel:.2g}", hint)


def expect_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def check_cases(
    fn: Callable[..., Any],
    cases: Iterable[tuple[tuple, dict, Any]],
    what: str,
    diagnose: Callable[[tuple, dict, Any, Any], str | None] | None = None,
    compare: Callable[[Any, Any], bool] | None = None,
) -> int:
    """Call ``fn(*args, **kwargs)`` for each ``(args, kwargs, expected)`` case.

    The first wrong answer fails with the call and the answer (never the expected value);
    ``diagnose(args, kwargs, got, expected)`` may return a hint naming the likely
    mistake (e.g. "the stride seems to be ignored"). A ``NotImplementedError`` fails
    with a reminder to write the solution. Returns the number of cases checked.
    """
    compare = compare or (lambda got, exp: got == exp)
    n = 0
    for args, kwargs, expected in cases:
        call = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        try:
            got = plain(fn(*args, **kwargs))
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what=what)) from None
        if not compare(got, expected):
            hint = diagnose(args, kwargs, got, expected) if diagnose else None
            _fail(f"{what}({call}) returned {_show(got)}, which is not right", hint)
        n += 1
    return n


def passed(what: str) -> None:
    """Print the one line a passing check cell shows."""
    print(f"\u2714 {what}: all checks passed")


# ---------------------------------------------------------------- gradient checks

def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry i of
    the float64 array ``x`` (changed in place and restored): the gradient of the scalar ``f``."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"x must be a float64 NumPy array, got {type(x).__name__}")
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|), as in CS231n's gradient checks (1e-7 or less: right)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(float((np.abs(a) + np.abs(b)).max()), 1e-12))



# ---------------------------------------------------------------- answers as plain values

def plain(value: Any) -> Any:
    """A learner's answer as the built-in value it claims to be, so that no comparison in
    a check can be rigged: an ``int`` subclass whose ``__eq__`` is always true becomes the
    plain ``int`` it holds (read through ``int``'s own slot, not the subclass's methods);
    likewise ``float``, ``str``, tuples and lists (element-wise), dicts, ``torch.Size``,
    NumPy scalars and array subclasses, and tensor subclasses (as plain tensors, sharing
    data and autograd history). Functions are wrapped so that what they return is made
    plain too; everything else (modules, classes, None, ...) is returned as it is.
    """
    if type(value) in (int, float, bool, str, complex, type(None)):
        return value
    if isinstance(value, bool):  # cannot happen (bool is final), kept for clarity
        return bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, np.generic):
        return plain(np.ndarray.item(np.asarray(value)))
    if isinstance(value, np.ndarray):
        return np.asarray(value) if type(value) is not np.ndarray else value
    if isinstance(value, torch.Tensor):
        return value if type(value) is torch.Tensor else torch.Tensor.as_subclass(value, torch.Tensor)
    if isinstance(value, torch.Size):
        return tuple(plain(v) for v in tuple.__iter__(value))
    if isinstance(value, tuple):
        return tuple(plain(v) for v in tuple.__iter__(value))
    if isinstance(value, list):
        return [plain(v) for v in list.__iter__(value)]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in dict.items(value)}
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, functools.partial)):
        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return plain(value(*args, **kwargs))
        return call
    return value


def protect(namespace: dict) -> None:
    """Make every public ``check_*`` function of a checks module take its arguments through
    :func:`plain`. Each topic module ends with ``protect(globals())``; a test makes sure
    none is forgotten."""
    for name, fn in list(namespace.items()):
        if name.startswith("check_") and isinstance(fn, types.FunctionType) and not getattr(fn, "__plain_answers__", False):
            namespace[name] = _plain_answers(fn)


def _plain_answers(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def check(*args: Any, **kwargs: Any) -> Any:
        return fn(*(plain(a) for a in args), **{k: plain(v) for k, v in kwargs.items()})
    check.__plain_answers__ = True
    return check

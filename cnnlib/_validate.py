"""Argument checks shared by cnnlib's public functions.

Every check raises ``TypeError`` (wrong type) or ``ValueError`` (wrong value) with a
message that names the argument and says what was expected, e.g.
``ValueError: stride must be a positive integer, got 0``.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` as int if it is an integer >= 1, else raise naming ``name``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def nonneg_int(name: str, value: Any) -> int:
    """Return ``value`` as int if it is an integer >= 0, else raise naming ``name``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def flag(name: str, value: Any) -> bool:
    """Return ``value`` as bool if it is a bool (or a NumPy bool), else raise naming ``name``.

    Strict on purpose, the same for every flag of cnnlib: PyTorch's own layers refuse
    ``ceil_mode=1``, and a truthy string such as ``"no"`` must not mean True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def pair(name: str, value: Any, check=positive_int) -> tuple[int, int]:
    """Accept an int or a pair of ints (height, width); return a checked 2-tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return (check(f"{name}[0]", value[0]), check(f"{name}[1]", value[1]))
    v = check(name, value)
    return (v, v)


def array(name: str, value: Any, ndim: int, what: str) -> np.ndarray:
    """Check that ``value`` is a floating NumPy array with ``ndim`` dimensions.

    ``what`` describes the expected layout, e.g. ``"(N, C_in, H, W)"``.
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape {what}, got {type(value).__name__}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {what}, got shape {value.shape}")
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array (float32 or float64), got dtype {value.dtype}")
    return value


def tensor(name: str, value: Any, what: str = "(N, ...)") -> Any:
    """Check that ``value`` is a ``torch.Tensor`` (layout ``what``, e.g. ``"(N, C, H, W)"``)."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {what}, got {type(value).__name__}")
    return value


def module(name: str, value: Any) -> Any:
    """Check that ``value`` is a ``torch.nn.Module``."""
    import torch.nn as nn

    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def iterable(name: str, value: Any, what: str) -> list:
    """``value`` as a list if it can be iterated (a string cannot), else a TypeError naming it."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {what}, got a string {value!r}")
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}") from None

"""A class of bad input across the whole public API of cnnlib: every public function,
called with an object of no meaningful type for its required arguments, fails with a
TypeError or ValueError that names one of them, before doing any work (never an
AttributeError, IndexError or ZeroDivisionError from deep inside, never silently).

The exercise checks (``cnnlib.checks``) and the grader are left out: a check's job is to
fail with CheckFailed on a wrong answer, and the grader takes paths.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import matplotlib
import pytest

import cnnlib

matplotlib.use("Agg")
SKIP_PACKAGES = ("cnnlib.checks", "cnnlib.grading")
# Predicates answer any object: False for one of no meaningful type.
PREDICATES = {"cnnlib.shapes.receptive.is_pointwise"}


class Bad:
    """An argument of no meaningful type."""

    def __repr__(self) -> str:
        return "<Bad>"


def _public_functions():
    seen = set()
    for info in pkgutil.walk_packages(cnnlib.__path__, "cnnlib."):
        if info.name.startswith(SKIP_PACKAGES) or any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name, fn in vars(module).items():
            if (name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != info.name
                    or (info.name, name) in seen):
                continue
            required = [p for p in inspect.signature(fn).parameters.values()
                        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if required:
                seen.add((info.name, name))
                yield pytest.param(fn, required, id=f"{info.name}.{name}")


FUNCTIONS = list(_public_functions())


def test_the_sweep_covers_the_library():
    assert len(FUNCTIONS) >= 60


@pytest.mark.parametrize("fn, required", FUNCTIONS)
def test_bad_arguments_fail_clearly(fn, required):
    if f"{fn.__module__}.{fn.__name__}" in PREDICATES:
        assert fn(*[Bad() for _ in required]) is False
        return
    with pytest.raises((TypeError, ValueError)) as err:
        fn(*[Bad() for _ in required])
    message = str(err.value)
    assert any(p.name in message for p in required), f"the message names no argument: {message!r}"

"""Answers reach the checks as plain values: a rigged ``__eq__`` earns nothing.

``cnnlib.checks.core.plain`` reads an answer through the built-in type's own slots, so an
``int`` (tuple, float, tensor ...) subclass that claims to equal everything is compared as
the value it holds; every ``check_*`` of every checks module takes its arguments that way.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import cnnlib.checks
from cnnlib.checks import CheckFailed
from cnnlib.checks.core import plain


class Liar(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__

    def __int__(self):
        return 32

    def __index__(self):  # even a lying __index__ is not consulted
        return 32


class LiarTuple(tuple):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = tuple.__hash__

    def __iter__(self):
        return iter((32, 1, 28, 28))


class LiarTensor(torch.Tensor):
    def __eq__(self, other):
        return torch.ones((), dtype=torch.bool)


def _modules():
    for info in pkgutil.iter_modules(cnnlib.checks.__path__):
        if info.name != "core":
            yield importlib.import_module(f"cnnlib.checks.{info.name}")


def test_every_check_of_every_module_takes_plain_answers():
    found = 0
    for module in _modules():
        for name, fn in vars(module).items():
            if name.startswith("check_") and inspect.isfunction(fn) and fn.__module__ == module.__name__:
                assert getattr(fn, "__plain_answers__", False), f"{module.__name__}.{name}: end the module with protect(globals())"
                found += 1
    assert found >= 30


@given(st.integers(-10**6, 10**6))
def test_plain_int_is_the_value_held(n):
    liar = Liar(n)
    assert liar == n + 1  # the lie
    got = plain(liar)
    assert type(got) is int and got == n and got != n + 1


def test_plain_containers_tensors_and_functions():
    t = LiarTuple((1, 2, 3))
    got = plain(t)
    assert type(got) is tuple and got == (1, 2, 3)
    assert plain([Liar(1), (Liar(2),)]) == [1, (2,)] and type(plain([Liar(1)])[0]) is int
    assert plain({"a": Liar(3)}) == {"a": 3}
    assert plain(np.int64(7)) == 7 and type(plain(np.int64(7))) is int
    assert plain(np.float32(0.5)) == 0.5 and type(plain(np.float32(0.5))) is float
    assert plain(torch.Size([2, 3])) == (2, 3) and type(plain(torch.Size([2, 3]))) is tuple
    lt = torch.zeros(2).as_subclass(LiarTensor)
    assert type(plain(lt)) is torch.Tensor and not bool((plain(lt) == torch.ones(2)).all())
    x = torch.ones(3, requires_grad=True)
    y = plain((x * 2).as_subclass(LiarTensor))
    y.sum().backward()  # autograd history kept
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    f = plain(lambda: Liar(5))
    assert type(f()) is int and f() == 5
    sub = np.zeros(3).view(np.matrix)
    assert type(plain(sub)) is np.ndarray


def test_a_rigged_int_fails_a_real_check():
    from cnnlib.checks.tour import check_batch_shape

    check_batch_shape((32, 1, 28, 28))
    with pytest.raises(CheckFailed):
        check_batch_shape((Liar(0), Liar(0), Liar(0), Liar(0)))
    with pytest.raises(CheckFailed):
        check_batch_shape(LiarTuple((1, 2, 3, 4)))


def test_a_function_returning_rigged_values_fails_check_cases():
    from cnnlib.checks.core import check_cases

    with pytest.raises(CheckFailed):
        check_cases(lambda n: Liar(0), [((3,), {}, 9)], "square")
    assert check_cases(lambda n: n * n, [((3,), {}, 9)], "square") == 1

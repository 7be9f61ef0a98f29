"""Feedback checks for the graded exercises.

A check either returns quietly or raises :class:`CheckFailed` (an ``AssertionError``)
with a message a learner can act on, e.g.::

    output height is 13, expected 14: did you apply the stride after padding?

Generic checks live in :mod:`cnnlib.checks.core`; checks that diagnose the typical
mistakes of one exercise live in a module named after its topic.
"""
from .core import (
    CheckFailed,
    check_cases,
    expect_close,
    expect_equal,
    expect_shape,
    expect_true,
    passed,
)

__all__ = [
    "CheckFailed", "check_cases", "expect_close", "expect_equal", "expect_shape", "expect_true", "passed",
]

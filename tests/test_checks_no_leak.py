"""No check gives the answer away: typical wrong answers fail, and neither the message nor
anything printed holds the right value.

Each ``tests/test_checks_<topic>.py`` lists its cases as ``LEAK_CASES = [(check, args,
kwargs, forbidden), ...]``: a wrong answer and the strings of the right value(s) that
must not appear. Every public ``check_*`` of every topic module needs at least two.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import pkgutil
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import cnnlib.checks
from cnnlib.checks import CheckFailed

TESTS = Path(__file__).resolve().parent
MIN_CASES = 2


def _test_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"_leak_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def all_cases() -> list[tuple]:
    cases = []
    for path in sorted(TESTS.glob("test_checks_*.py")):
        if path.name == Path(__file__).name:
            continue
        for case in getattr(_test_module(path), "LEAK_CASES", []):
            cases.append((path.stem, *case))
    return cases


def public_checks() -> dict[str, object]:
    found = {}
    for info in pkgutil.iter_modules(cnnlib.checks.__path__):
        if info.name == "core":
            continue
        mod = importlib.import_module(f"cnnlib.checks.{info.name}")
        for name, fn in vars(mod).items():
            if name.startswith("check_") and callable(fn) and getattr(fn, "__module__", "") == mod.__name__:
                found[f"{info.name}.{name}"] = fn
    return found


def _key(fn) -> str:
    inner = inspect.unwrap(fn)
    return f"{inner.__module__.rsplit('.', 1)[-1]}.{inner.__name__}"


def _normalize(text: str) -> str:
    # 663,936 / 663_936 / 663 936 all read as 663936
    return re.sub(r"(?<=\d)[,_\u2009\u202f ](?=\d{3}\b)", "", text)


def leaks(text: str, forbidden: str) -> bool:
    text, forbidden = _normalize(text), _normalize(str(forbidden))
    if re.fullmatch(r"-?\d+(\.\d+)?", forbidden):
        return re.search(rf"(?<![\d.]){re.escape(forbidden)}(?![\d])", text) is not None
    return forbidden in text


CASES = all_cases()


@pytest.mark.parametrize("where, check, args, kwargs, forbidden", CASES,
                         ids=[f"{c[0]}:{_key(c[1])}:{i}" for i, c in enumerate(CASES)])
def test_wrong_answer_fails_without_the_answer(where, check, args, kwargs, forbidden):
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(CheckFailed) as err:
        check(*args, **kwargs)
    shown = str(err.value) + "\n" + out.getvalue()
    for value in forbidden:
        assert not leaks(shown, value), f"the feedback shows the right value {value!r}: {shown!r}"


def test_every_check_has_leak_cases():
    counts = {key: 0 for key in public_checks()}
    for _, check, *_ in CASES:
        key = _key(check)
        counts[key] = counts.get(key, 0) + 1
    missing = {k: n for k, n in counts.items() if n < MIN_CASES}
    assert not missing, f"checks with fewer than {MIN_CASES} LEAK_CASES: {missing}"


def test_the_leak_detector():
    assert leaks("your answer 663,936 is", "663936")
    assert not leaks("got 6639360", "663936")
    assert not leaks("3.14", "14")
    assert leaks("height 14: no", "14")
    assert leaks("shape (2, 14)", "(2, 14)")

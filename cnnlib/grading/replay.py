"""Re-verify the check cells in a trusted process, outside the student's reach.

A check cell runs in the student's kernel, where the student's code can rewrite anything:
the check functions (``c.check_x = lambda *a, **k: None``), the helpers they call, or the
cells themselves (an IPython input transformer that blanks them). So the grader decides a
check's score a second time, in a process of its own that imports the *trusted* copy of
:mod:`cnnlib.checks` and never runs a line of the student's code:

1. :func:`check_calls` reads the calls to ``check_*`` functions of :mod:`cnnlib.checks` in a
   check cell of the instructor's source notebook (AST; literal arguments such as
   ``hidden=True`` are taken from the source, never from the kernel);
2. right after that check cell, a follow-up cell (:func:`recorder_source`, removed before
   the notebook is graded) evaluates the other arguments in the student's kernel and sends
   them back as plain data - JSON numbers, strings, lists, and ``.npy`` bytes for arrays
   and tensors (:func:`encode`; never pickle). An argument that is a function (an
   implement exercise) is replaced by a recorder and the check is called once more in the
   kernel: every call of the student's function is sent back, its inputs and what it
   returned (or raised), again as plain data;
3. :class:`TrustedChecker` (a fresh ``python -I`` process, started once per grading run)
   calls the real check function on the decoded values. A function argument becomes a
   :class:`ReplayFunction`: when the trusted check calls it, the call's inputs (made by the
   trusted check) must match the recorded ones, and the value the student's function
   returned in the kernel is handed back. The check passes only on the student's outputs.

What this holds against: a rewritten check or helper in the kernel, a blanked or altered
cell, objects with a rigged ``__eq__`` (only plain data crosses over). What it cannot do: a
kernel can still send back outputs it computed any way it likes (by the course's reference
code, for instance - see :func:`reference_use`); it must produce the right outputs for the
check's inputs, which is what the check asks. A *class* argument (an ``nn.Module``
subclass the check instantiates and inspects) cannot be replayed as plain data: a call to
a check whose first parameter the trusted source annotates as a class (``type``,
``type[...]``) is reported as not re-verifiable and keeps the kernel's verdict (today
notebook 08 exercise 1 and notebook 10 exercise 2); for any other check, an answer that
does not come back as plain data scores 0. Check cells with statements other than
``check_*`` calls (plain ``assert`` statements) are not re-verified either.

The random inputs a check draws are the same on both sides: both seed Python, NumPy and
PyTorch before the call, and the recorder restores the generators after each call of the
student's function, so what that function draws does not move the check's next inputs.
"""
from __future__ import annotations

import ast
import base64
import builtins
import io
import json
import os
import select
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

MIME = "application/x-cnnlib-replay+json"
CHECKS = "cnnlib.checks"
MAX_DEPTH = 24
MAX_PAYLOAD = 64 << 20  # bytes of JSON accepted from one kernel


# ---------------------------------------------------------------- what a check cell calls

@dataclass(frozen=True)
class CheckCall:
    """One ``check_*(...)`` call of a check cell: the function and its arguments, each
    ``("literal", value)`` (from the source) or ``("expr", source text)`` (evaluated in the
    student's kernel)."""

    module: str
    function: str
    args: tuple[tuple[str, Any], ...]
    kwargs: tuple[tuple[str, tuple[str, Any]], ...]


def _argument(node: ast.expr, source: str) -> tuple[str, Any]:
    try:
        return "literal", ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "expr", ast.get_source_segment(source, node)


def check_calls(source: str) -> list[CheckCall]:
    """The calls to check functions of :mod:`cnnlib.checks` in a check cell's ``source``,
    in order: ``from cnnlib.checks.tour import check_x`` then ``check_x(a, hidden=True)``,
    or ``import cnnlib.checks.tour as t`` then ``t.check_x(a)``. Other statements are
    not re-verified (an empty list: the cell keeps its kernel's verdict only)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: dict[str, tuple[str, str]] = {}
    modules: dict[str, str] = {}
    calls = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0 and \
                (stmt.module == CHECKS or stmt.module.startswith(CHECKS + ".")):
            for alias in stmt.names:
                names[alias.asname or alias.name] = (stmt.module, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name.startswith(CHECKS + ".") and alias.asname:
                    modules[alias.asname] = alias.name
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call, target = stmt.value, None
            if isinstance(call.func, ast.Name) and call.func.id in names:
                target = names[call.func.id]
            elif isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) \
                    and call.func.value.id in modules:
                target = (modules[call.func.value.id], call.func.attr)
            if target is None or not target[1].startswith("check_"):
                continue
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                continue
            calls.append(CheckCall(target[0], target[1], tuple(_argument(a, source) for a in call.args),
                                   tuple((k.arg, _argument(k.value, source)) for k in call.keywords)))
    return calls


def recorder_source(calls: Sequence[CheckCall]) -> str:
    """The follow-up cell run in the student's kernel right after the check cell."""
    spec = [{"module": c.module, "function": c.function,
             "args": [kind == "literal" for kind, _ in c.args],
             "kwargs": {k: kind == "literal" for k, (kind, _) in c.kwargs}} for c in calls]
    literals = [([v for kind, v in c.args if kind == "literal"], {k: v for k, (kind, v) in c.kwargs if kind == "literal"})
                for c in calls]
    thunks = []
    for c in calls:
        exprs = [v for kind, v in c.args if kind == "expr"] + [v for _, (kind, v) in c.kwargs if kind == "expr"]
        thunks.append("lambda: [" + ", ".join(f"({e})" for e in exprs) + "]")
    return ("from cnnlib.grading import replay as _cnnlib_replay\n"
            f"_cnnlib_replay.record({json.dumps(spec)!r}, {literals!r}, [{', '.join(thunks)}])\n"
            "del _cnnlib_replay")


# ---------------------------------------------------------------- plain data both ways

def _npy(array) -> str:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as tagged JSON: ``{"int": "3"}``, ``{"float": "0.5"}``, ``{"str": ...}``,
    ``{"tuple": [...]}``, ``{"ndarray": npy}``, ``{"tensor": npy}``, ...; a function is
    ``{"function": name}``, anything else ``{"opaque": type name}``. Subclasses of the
    built-in types are read through the built-in type's own slots."""
    import numpy as np

    if depth > MAX_DEPTH:
        return {"opaque": "too deeply nested"}
    if value is None or value is ...:
        return {"none": None} if value is None else {"ellipsis": None}
    if isinstance(value, bool):
        return {"bool": bool(int.__index__(value))}
    if isinstance(value, int):
        return {"int": int.__repr__(int.__index__(value))}
    if isinstance(value, float):
        return {"float": float.__repr__(float.__float__(value))}
    if isinstance(value, str):
        return {"str": str.__str__(value)}
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return encode(np.ndarray.item(np.asarray(value)), depth + 1)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {"opaque": "array of Python objects"}
        return {"ndarray": _npy(np.asarray(value))}
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Size):
            return {"tuple": [encode(v, depth + 1) for v in tuple.__iter__(value)]}
        if isinstance(value, torch.Tensor):
            t = torch.Tensor.as_subclass(value, torch.Tensor).detach().cpu()
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.float()
            return {"tensor": _npy(t.resolve_conj().resolve_neg().numpy())}
        if isinstance(value, torch.nn.Module):
            return {"opaque": f"module {type(value).__name__}"}
    if isinstance(value, tuple):
        return {"tuple": [encode(v, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, list):
        return {"list": [encode(v, depth + 1) for v in list.__iter__(value)]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(value)]}
    if isinstance(value, type):
        return {"opaque": f"class {value.__name__}"}
    if callable(value):
        return {"function": str(getattr(value, "__name__", "function"))[:100]}
    return {"opaque": type(value).__name__}


class Unreplayable(Exception):
    """A value that cannot cross over as plain data (a class, a module, an object)."""


def decode(data: Any, depth: int = 0) -> Any:
    """The plain value of :func:`encode`'s JSON; anything malformed raises ``ValueError``."""
    import numpy as np

    if depth > MAX_DEPTH or not isinstance(data, dict) or len(data) != 1:
        raise ValueError("malformed value")
    (tag, v), = data.items()
    if tag == "none":
        return None
    if tag == "ellipsis":
        return ...
    if tag == "bool" and type(v) is bool:
        return v
    if tag == "int" and type(v) is str and len(v) < 5000:
        return int(v)
    if tag == "float" and type(v) is str and len(v) < 100:
        return float(v)
    if tag == "str" and type(v) is str:
        return v
    if tag in ("tuple", "list") and type(v) is list:
        items = [decode(x, depth + 1) for x in v]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict" and type(v) is list:
        out = {}
        for pair in v:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("malformed dict")
            key = decode(pair[0], depth + 1)
            if type(key) not in (int, float, bool, str, type(None), tuple):
                raise ValueError("unhashable dict key")
            out[key] = decode(pair[1], depth + 1)
        return out
    if tag in ("ndarray", "tensor") and type(v) is str:
        array = np.load(io.BytesIO(base64.b64decode(v, validate=True)), allow_pickle=False)
        if tag == "ndarray":
            return array
        import torch

        return torch.from_numpy(array.copy())
    if tag in ("function", "opaque") and type(v) is str:
        raise Unreplayable(f"{'a function' if tag == 'function' else v}")
    raise ValueError(f"malformed value ({tag!r})")


# ---------------------------------------------------------------- the kernel's side

def _seed() -> None:
    import random

    random.seed(0)
    try:
        import numpy as np

        np.random.seed(0)
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(0)


def _rng_state() -> tuple:
    import random

    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    return (random.getstate(), np.random.get_state() if np is not None else None,
            torch.get_rng_state() if torch is not None else None)


def _set_rng_state(state: tuple) -> None:
    import random

    random.setstate(state[0])
    if state[1] is not None:
        sys.modules["numpy"].random.set_state(state[1])
    if state[2] is not None:
        sys.modules["torch"].set_rng_state(state[2])


def record(spec_json: str, literals: list, thunks: list) -> None:
    """Run in the student's kernel: evaluate each call's arguments, record the student's
    functions called by the check, and display it all as plain data (:data:`MIME`).
    It never raises; whatever it sends back is only data for the trusted side."""
    import contextlib
    import functools
    import importlib

    spec = json.loads(spec_json)
    out = []
    for call, (lit_args, lit_kwargs), thunk in zip(spec, literals, thunks):
        entry: dict = {}
        try:
            values = list(thunk())
        except BaseException as exc:  # e.g. NameError: the answer was never defined
            out.append({"error": f"{type(exc).__name__}: {exc}"[:500]})
            continue
        lit_args, lit_kwargs, it = list(lit_args), dict(lit_kwargs), iter(values)
        args = [lit_args.pop(0) if is_lit else next(it) for is_lit in call["args"]]
        kwargs = {k: (lit_kwargs[k] if is_lit else next(it)) for k, is_lit in call["kwargs"].items()}
        recordings: dict[str, list] = {}

        def recorder(fn, key):
            calls = recordings.setdefault(key, [])

            @functools.wraps(fn)
            def wrapped(*a, **kw):
                rec = {"in": encode([list(a), kw])}
                calls.append(rec)
                state = _rng_state()
                try:
                    result = fn(*a, **kw)
                except BaseException as exc:
                    rec["raised"] = [type(exc).__name__, str(exc)[:500]]
                    rec["after"] = encode([list(a), kw])
                    raise
                finally:  # what the student's code draws must not change the check's next inputs
                    _set_rng_state(state)
                rec["out"], rec["after"] = encode(result), encode([list(a), kw])
                return result
            return wrapped

        encoded_args = [encode(a) for a in args]
        encoded_kwargs = {k: encode(v) for k, v in kwargs.items()}
        functions = [i for i, e in enumerate(encoded_args) if "function" in e]
        functions_kw = [k for k, e in encoded_kwargs.items() if "function" in e]
        if functions or functions_kw:
            args = [recorder(a, str(i)) if i in functions else a for i, a in enumerate(args)]
            kwargs = {k: recorder(v, k) if k in functions_kw else v for k, v in kwargs.items()}
            try:
                check = getattr(importlib.import_module(call["module"]), call["function"])
                _seed()
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    check(*args, **kwargs)
            except BaseException:  # the check failed or was rewritten: the trusted side decides
                pass
        entry.update(args=encoded_args, kwargs=encoded_kwargs, recordings=recordings)
        out.append(entry)
    from IPython.display import display

    display({MIME: {"calls": out}}, raw=True)


# ---------------------------------------------------------------- the trusted side

_EXCEPTIONS = {name: getattr(builtins, name) for name in (
    "NotImplementedError", "RuntimeError", "ValueError", "TypeError", "IndexError", "KeyError",
    "AttributeError", "ZeroDivisionError", "ArithmeticError", "OverflowError", "AssertionError",
    "RecursionError", "MemoryError", "NameError", "UnboundLocalError", "LookupError")}


def _same(a: Any, b: Any) -> bool:
    """Whether two encoded values hold the same data (arrays: same shape, close values);
    opaque values (modules) are not compared."""
    import numpy as np

    if not isinstance(a, dict) or not isinstance(b, dict) or len(a) != 1 or len(b) != 1:
        return False
    (ta, va), = a.items()
    (tb, vb), = b.items()
    if ta == "opaque" or tb == "opaque":
        return ta == tb
    if ta in ("ndarray", "tensor") and tb in ("ndarray", "tensor"):
        try:
            x, y = decode(a), decode(b)
        except (ValueError, Unreplayable):
            return False
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            return False
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            return bool(np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True))
        return bool(np.array_equal(x, y))
    if ta != tb:
        return False
    if ta in ("tuple", "list", "dict"):
        return type(va) is list and type(vb) is list and len(va) == len(vb) and all(
            _same(x, y) if ta != "dict" else (type(x) is list and type(y) is list and len(x) == len(y) == 2
                                              and _same(x[0], y[0]) and _same(x[1], y[1]))
            for x, y in zip(va, vb))
    return va == vb


def _copy_back(target: Any, data: Any) -> None:
    """Apply the student's in-place changes of an array or tensor argument to the trusted one."""
    import numpy as np

    try:
        value = decode(data)
    except (ValueError, Unreplayable):
        return
    torch = sys.modules.get("torch")
    if isinstance(target, np.ndarray) and isinstance(value, np.ndarray) and target.shape == value.shape \
            and target.flags.writeable:
        target[...] = value
    elif torch is not None and isinstance(target, torch.Tensor) and isinstance(value, torch.Tensor) \
            and target.shape == value.shape:
        with torch.no_grad():
            target.data.copy_(value.to(target.dtype))


class ReplayFunction:
    """Stands in for the student's function in the trusted check: each call must match the
    next recorded call (its inputs), and gets the value the student's function returned."""

    def __init__(self, name: str, calls: list, check_failed: type):
        self.__name__ = self.__qualname__ = name
        self._calls, self._i, self._failed = calls if isinstance(calls, list) else [], 0, check_failed

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._i >= len(self._calls):
            raise self._failed(f"{self.__name__} was not called in your kernel as the check calls it (call "
                               f"{self._i + 1}): was the check, or the cell after it, changed?")
        rec = self._calls[self._i]
        self._i += 1
        if not isinstance(rec, dict) or not _same(encode([list(args), kwargs]), rec.get("in")):
            raise self._failed(f"{self.__name__} was called in your kernel with other inputs than the check's "
                               f"(call {self._i}): was the check changed?")
        after = rec.get("after")
        if isinstance(after, dict) and isinstance(after.get("list"), list) and len(after["list"]) == 2:
            got_args = after["list"][0].get("list") if isinstance(after["list"][0], dict) else None
            if isinstance(got_args, list) and len(got_args) == len(args):
                for target, data in zip(args, got_args):
                    _copy_back(target, data)
        if "raised" in rec:
            name, message = (list(rec["raised"]) + ["", ""])[:2] if isinstance(rec["raised"], list) else ("", "")
            cls = _EXCEPTIONS.get(str(name))
            raise cls(str(message)) if cls else RuntimeError(f"{name}: {message}")
        try:
            return decode(rec.get("out"))
        except Unreplayable as exc:
            raise self._failed(f"{self.__name__} returned {exc}, which the grader cannot compare: return a "
                               "tensor, an array or plain numbers") from None


GRADER_ERROR_MARK = "grader error"


def _takes_classes(check: Any) -> bool:
    """Whether the check's first parameter is annotated as a class (``type``, ``type[...]``)."""
    import inspect

    try:
        params = list(inspect.signature(check).parameters.values())
    except (TypeError, ValueError):
        return False
    note = params[0].annotation if params else None
    return note is type or (isinstance(note, str) and (note == "type" or note.startswith("type[")))


def verify_call(call: CheckCall, sent: Any) -> tuple[bool | None, str]:
    """Run the trusted check ``call`` on what the kernel sent: ``(True, "")`` if it passes,
    ``(False, message)`` if not, ``(None, why)`` if it cannot be replayed (a class argument)."""
    import contextlib
    import importlib

    from ..checks.core import CheckFailed

    if not isinstance(sent, dict):
        return False, "the check's answers did not come back from your kernel"
    if "error" in sent:
        return False, str(sent["error"])[:500]
    recordings = sent.get("recordings") if isinstance(sent.get("recordings"), dict) else {}
    sent_args = sent.get("args") if isinstance(sent.get("args"), list) else []
    sent_kwargs = sent.get("kwargs") if isinstance(sent.get("kwargs"), dict) else {}

    def value(kind: str, literal: Any, data: Any, key: str) -> Any:
        if kind == "literal":
            return literal
        try:
            return decode(data)
        except Unreplayable as exc:
            if "function" in data:
                return ReplayFunction(str(data["function"]), recordings.get(key), CheckFailed)
            raise
    try:
        check = getattr(importlib.import_module(call.module), call.function)
    except (ImportError, AttributeError) as exc:
        return GRADER_ERROR_MARK, f"the check {call.module}.{call.function} cannot be found ({exc})"
    try:
        if len(sent_args) != len(call.args):
            return False, "the check's answers did not come back whole from your kernel"
        args = [value(kind, lit, sent_args[i], str(i)) for i, (kind, lit) in enumerate(call.args)]
        kwargs = {k: value(kind, lit, sent_kwargs.get(k), k) for k, (kind, lit) in call.kwargs}
    except Unreplayable as exc:
        # Only a parameter the (trusted) check declares as a class may stay unverified: the
        # kernel's word that an answer "cannot be replayed" counts for nothing.
        if _takes_classes(check):
            return None, f"{call.function} takes {exc}, which cannot be re-checked outside your kernel"
        return False, f"your answer is {exc}, which the grader cannot compare: use plain numbers, tuples or tensors"
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
        return False, f"the check's answers came back malformed from your kernel ({exc})"
    try:
        _seed()
        with contextlib.redirect_stdout(io.StringIO()):
            check(*args, **kwargs)
    except CheckFailed as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def serve() -> None:  # pragma: no cover - runs in the trusted subprocess
    """The trusted worker's loop: one JSON request a line on stdin, one answer a line."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a check prints at the C level goes to stderr, not into the answers
    sys.stdout = sys.stderr
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answers = []
            for item in request:
                c = item["call"]
                call = CheckCall(c["module"], c["function"], tuple(tuple(a) for a in c["args"]),
                                 tuple((k, tuple(v)) for k, v in c["kwargs"]))
                answers.append(verify_call(call, item.get("sent")))
        except Exception as exc:
            answers = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answers) + "\n")
        out.flush()


class TrustedChecker:
    """A fresh Python process (``python -I``) that imports :mod:`cnnlib` from ``lib`` (the
    grader's trusted copy) and runs checks on plain data. Started on first use, restarted
    after a failure; use as a context manager."""

    def __init__(self, lib: Path | None = None, timeout: float = 120.0):
        if lib is None:
            import cnnlib

            lib = Path(cnnlib.__file__).resolve().parent.parent
        self.lib, self.timeout = Path(lib), float(timeout)
        self._proc: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="cnnlib-trusted-")
        self._log = None

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._log = open(Path(self._dir.name) / "stderr.txt", "w+")
            code = f"import sys; sys.path.insert(0, {str(self.lib)!r}); from cnnlib.grading.replay import serve; serve()"
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            self._proc = subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=self._log, cwd=self._dir.name,
                                          env=env, text=True)
        return self._proc

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout):
                if f:
                    f.close()
            self._proc = None

    def _stderr_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-500:].strip()

    def verify(self, items: list[tuple[CheckCall, Any]]) -> list[tuple[bool | None, str]]:
        """The verdicts of :func:`verify_call` for each ``(call, sent)``. Raises
        ``RuntimeError`` if the trusted process fails or takes longer than ``timeout``."""
        if not items:
            return []
        request = json.dumps([{"call": {"module": c.module, "function": c.function, "args": [list(a) for a in c.args],
                                        "kwargs": [[k, list(v)] for k, v in c.kwargs]}, "sent": s} for c, s in items])
        proc = self._start()
        try:
            proc.stdin.write(request + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
            line = proc.stdout.readline() if ready else ""
        except (OSError, ValueError) as exc:
            line, ready = "", [exc]
        if not line:
            why = "took longer than {:g} s".format(self.timeout) if not ready else "ended"
            tail = self._stderr_tail()
            self._stop()
            raise RuntimeError(f"the trusted check process {why}" + (f": {tail}" if tail else ""))
        answers = json.loads(line)
        if isinstance(answers, dict):
            raise RuntimeError(f"the trusted check process failed: {answers.get('error')}")
        return [(ok, str(message)) for ok, message in answers]

    def close(self) -> None:
        self._stop()
        if self._log is not None:
            self._log.close()
        self._dir.cleanup()

    def __enter__(self) -> "TrustedChecker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def payload(cell: Any) -> Any:
    """What a recorder cell sent back (its first :data:`MIME` output), or ``None``."""
    for out in cell.get("outputs", []):
        data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
        if MIME in data:
            value = data[MIME]
            if isinstance(value, str):
                if len(value) > MAX_PAYLOAD:
                    return None
                try:
                    value = json.loads(value)
                except ValueError:
                    return None
            return value.get("calls") if isinstance(value, dict) else None
    return None


# ---------------------------------------------------------------- reference code in a solution

REFERENCE_MODULES = ("cnnlib.ops", "cnnlib.checks", "cnnlib.kernels")


def reference_use(source: str, forbidden: Sequence[str] = REFERENCE_MODULES,
                  allowed: Sequence[str] = ()) -> list[str]:
    """The names of the course's reference code that a solution cell's ``source`` imports or
    names (``import cnnlib.ops``, ``from cnnlib import checks``, ``importlib.import_module(
    "cnnlib.kernels")``, a string naming one): a flag for the instructor, not a proof (code
    can build a name at run time), and not a zero. ``forbidden`` entries may also be dotted
    names of functions (``torch.nn.functional.conv2d``), found through the cell's imports."""
    banned = [f for f in forbidden if not any(f == a or f.startswith(a + ".") for a in allowed)]
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases = {"F": "torch.nn.functional", "nn": "torch.nn", "np": "numpy"}
    found: list[str] = []

    def hit(name: str) -> None:
        for f in banned:
            if (name == f or name.startswith(f + ".")) and f not in found:
                found.append(f)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                hit(a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                aliases[a.asname or a.name] = full
                hit(full)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for f in banned:
                if f in node.value and f not in found:
                    found.append(f)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts, n = [], node
            while isinstance(n, ast.Attribute):
                parts.append(n.attr)
                n = n.value
            if isinstance(n, ast.Name) and n.id in aliases:
                hit(".".join([aliases[n.id], *reversed(parts)]))
        elif isinstance(node, ast.Name) and node.id in aliases and isinstance(node.ctx, ast.Load):
            hit(aliases[node.id])
    return found

"""Checks the student's code cannot rewrite: the trusted re-run of check cells
(cnnlib.grading.replay) and the flag on solutions that use the course's reference code.

A tiny course notebook with two exercises checked by cnnlib.checks.tour (a value and a
function); each dishonest student rigs the checks *inside their own kernel* in a way
that makes the check cells pass there, and must still get 0 on the exercise they target.
One kernel per student, short limits.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import _answer, _meta, _write  # noqa: E402

from cnnlib.grading import replay  # noqa: E402
from cnnlib.grading.autograde import grade  # noqa: E402
from cnnlib.grading.release import student_version  # noqa: E402

CHECKED = "02_checked"
FLATTEN_CHECK = ("from cnnlib.checks.tour import check_flatten_batch\n\ncheck_flatten_batch(flatten_batch)\n"
                 "### BEGIN HIDDEN TESTS\ncheck_flatten_batch(flatten_batch, hidden=True)\n### END HIDDEN TESTS")


def checked_source() -> nbformat.NotebookNode:
    """A course notebook whose check cells call cnnlib's checks, as the real ones do."""
    cells = [
        new_markdown_cell("# Checked toy"),
        new_code_cell("import torch"),
        new_markdown_cell("### Exercise 1 (compute, 1 point)\nThe shape of 32 MNIST images.",
                          metadata=_meta("ex1-text", locked=True)),
        new_code_cell("batch_shape = ...\n### BEGIN SOLUTION\nbatch_shape = (32, 1, 28, 28)\n### END SOLUTION",
                      metadata=_meta("ex1-answer", solution=True)),
        new_code_cell("from cnnlib.checks.tour import check_batch_shape\n\ncheck_batch_shape(batch_shape)",
                      metadata=_meta("ex1-check", grade=True, locked=True, points=1)),
        new_markdown_cell("### Exercise 2 (implement, 2 points)\nWrite `flatten_batch(x)`.",
                          metadata=_meta("ex2-text", locked=True)),
        new_code_cell("def flatten_batch(x):\n    ### BEGIN SOLUTION\n    return x.reshape(x.shape[0], -1)\n"
                      "    ### END SOLUTION", metadata=_meta("ex2-answer", solution=True)),
        new_code_cell(FLATTEN_CHECK, metadata=_meta("ex2-check", grade=True, locked=True, points=2)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


RIGHT = dict(ex1_answer="batch_shape = (32, 1, 28, 28)",
             ex2_answer="def flatten_batch(x):\n    return x.reshape(len(x), -1)")
CHEATS = {
    # exercise 1: the helpers the real check calls replaced (the check itself untouched);
    # exercise 2: the check function replaced by a no-op (the check cell imports the patched
    # name). Wrong answers both.
    "patcher": dict(
        ex1_answer="import cnnlib.checks.tour as t\nt._shape = lambda answer, name: (32, 1, 28, 28)\n"
                   "t.passed = lambda what: print('all checks passed')\nbatch_shape = (32, 28, 28)",
        ex2_answer="import cnnlib.checks.tour as c\nc.check_flatten_batch = lambda *a, **k: None\n"
                   "def flatten_batch(x):\n    return x"),
    # an IPython input transformer that blanks every cell naming a check, wrong answers
    "transformer": dict(
        ex1_answer="batch_shape = (1,)\nget_ipython().input_transformers_post.append(\n"
                   "    lambda lines: [] if any('check_' in ln for ln in lines) else lines)",
        ex2_answer="def flatten_batch(x):\n    return x"),
}


@pytest.fixture(scope="module")
def trusted_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("trusted")
    _write(checked_source(), root / "course" / f"{CHECKED}.ipynb")
    stub = student_version(checked_source())
    subs = root / "submitted"
    _write(_answer(stub, **RIGHT), subs / "honest" / f"{CHECKED}.ipynb")
    _write(stub, subs / "stub" / f"{CHECKED}.ipynb")
    for student, answers in CHEATS.items():
        _write(_answer(stub, **answers), subs / student / f"{CHECKED}.ipynb")
    borrowed = "from cnnlib import ops  # the course's reference code\ndef flatten_batch(x):\n    return x.reshape(len(x), -1)"
    _write(_answer(stub, ex1_answer=RIGHT["ex1_answer"], ex2_answer=borrowed), subs / "borrower" / f"{CHECKED}.ipynb")
    run = grade(subs, root / "graded", source_dir=root / "course", timeout=20)
    return run, {(g.student, g.grade_id): g for g in run.grades}, root / "graded"


def test_honest_right_gets_full_marks_and_no_flag(trusted_run):
    _, grades, _ = trusted_run
    for grade_id, points in (("ex1-check", 1), ("ex2-check", 2)):
        g = grades["honest", grade_id]
        assert (g.points, g.status, g.message) == (points, "passed", ""), g


def test_untouched_stub_gets_nothing(trusted_run):
    _, grades, _ = trusted_run
    for grade_id in ("ex1-check", "ex2-check"):
        g = grades["stub", grade_id]
        assert (g.points, g.status) == (0, "unanswered"), g


@pytest.mark.parametrize("student", sorted(CHEATS))
def test_a_check_rigged_in_the_kernel_earns_nothing(trusted_run, student):
    run, grades, out = trusted_run
    ran = nbformat.read(out / "autograded" / student / f"{CHECKED}.ipynb", as_version=4)
    checks = {c.metadata["nbgrader"]["grade_id"]: c for c in ran.cells if c.metadata.get("nbgrader", {}).get("grade")}
    for grade_id in ("ex1-check", "ex2-check"):
        assert not any(o.output_type == "error" for o in checks[grade_id].outputs), "the cheat did not work in the kernel"
        g = grades[student, grade_id]
        assert (g.points, g.status) == (0, "failed"), g
        assert "outside your kernel" in g.message, g
    assert not any("cnnlib_replay" in c.metadata or "_cnnlib_replay" in c.source for c in ran.cells)


def test_patched_check_is_told_why(trusted_run):
    _, grades, _ = trusted_run
    assert "was not called in your kernel" in grades["patcher", "ex2-check"].message
    assert "did not come back" in grades["transformer", "ex1-check"].message
    assert "flagged" in grades["patcher", "ex2-check"].message  # it imported cnnlib.checks


def test_reference_code_in_a_solution_is_flagged_not_zeroed(trusted_run):
    _, grades, out = trusted_run
    g = grades["borrower", "ex2-check"]
    assert (g.points, g.status) == (2, "passed") and "flagged" in g.message and "cnnlib.ops" in g.message, g
    assert grades["borrower", "ex1-check"].message == ""
    assert "cnnlib.ops" in (out / "feedback" / "borrower" / f"{CHECKED}.md").read_text()


# ---- the pieces, without a kernel ----------------------------------------------------

def test_check_calls_reads_the_source_and_takes_literals_from_it():
    calls = replay.check_calls(FLATTEN_CHECK + "\nprint('not a check')\nimport cnnlib.checks.tour as t\nt.check_batch_shape(s)")
    assert [(c.function, c.args, c.kwargs) for c in calls] == [
        ("check_flatten_batch", (("expr", "flatten_batch"),), ()),
        ("check_flatten_batch", (("expr", "flatten_batch"),), (("hidden", ("literal", True)),)),
        ("check_batch_shape", (("expr", "s"),), ())]
    assert replay.check_calls("assert sq == 9") == [] and replay.check_calls("not python (") == []


def test_only_plain_data_crosses_over():
    import numpy as np
    import torch

    class Rigged(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__

    class RiggedTensor(torch.Tensor):
        def __eq__(self, other):
            return True

    sent = replay.encode([Rigged(3), (1, 2.5, "a", None), np.arange(4), torch.ones(2).as_subclass(RiggedTensor),
                          {"k": torch.Size([2, 3])}, lambda x: x, torch.nn.Linear(2, 2)])
    json.dumps(sent)  # JSON all the way
    back = replay.decode({"list": sent["list"][:5]})
    assert type(back[0]) is int and back[0] == 3 and back[1] == (1, 2.5, "a", None)
    assert type(back[2]) is np.ndarray and type(back[3]) is torch.Tensor and back[4] == {"k": (2, 3)}
    assert sent["list"][5] == {"function": "<lambda>"} and "opaque" in sent["list"][6]
    for bad in ({"ndarray": "not base64!"}, {"int": 3}, {"list": "x"}, {"a": 1, "b": 2}, "x"):
        with pytest.raises(ValueError):
            replay.decode(bad)
    pickled = np.array([object()], dtype=object)
    import base64
    import io
    buf = io.BytesIO()
    np.save(buf, pickled, allow_pickle=True)
    with pytest.raises(ValueError):  # an .npy holding a pickle is refused, never loaded
        replay.decode({"ndarray": base64.b64encode(buf.getvalue()).decode()})


def test_the_trusted_check_decides_on_plain_values():
    calls = replay.check_calls("from cnnlib.checks.tour import check_batch_shape\ncheck_batch_shape(b)")
    inception, = replay.check_calls("from cnnlib.checks.modern_cnns import check_inception_block as c\nc(B)")

    class Yes(tuple):
        def __eq__(self, other):
            return True

    with replay.TrustedChecker() as checker:
        verdicts = checker.verify([(calls[0], {"args": [replay.encode(v)], "kwargs": {}, "recordings": {}})
                                   for v in [(32, 1, 28, 28), Yes((1,)), "x"]]
                                  + [(calls[0], {"error": "NameError: name 'b' is not defined"}), (calls[0], None),
                                     # a kernel claiming its answer cannot be replayed: only a check whose
                                     # parameter is a class (trusted annotation) accepts that
                                     (calls[0], {"args": [{"opaque": "class B"}], "kwargs": {}}),
                                     (inception, {"args": [{"opaque": "class B"}], "kwargs": {}})])
    assert [ok for ok, _ in verdicts] == [True, False, False, False, False, False, None]
    assert "NameError" in verdicts[3][1]


def test_reference_use():
    assert replay.reference_use("from cnnlib import ops\nimport torch") == ["cnnlib.ops"]
    assert replay.reference_use("import cnnlib\ndef f(x):\n    return cnnlib.kernels.conv(x)") == ["cnnlib.kernels"]
    assert replay.reference_use("import importlib\nm = importlib.import_module('cnnlib.checks.tour')") == ["cnnlib.checks"]
    assert replay.reference_use("import cnnlib.ops.conv as c", allowed=("cnnlib.ops",)) == []
    assert replay.reference_use("def f(x):\n    return F.max_pool2d(x, 2)",
                                forbidden=("torch.nn.functional.max_pool2d",)) == ["torch.nn.functional.max_pool2d"]
    assert replay.reference_use("import cnnlib.shapes\nimport torch.nn.functional as F\ny = F.relu(x)") == []


def test_a_function_is_replayed_from_what_it_returned(monkeypatch):
    """record() as the kernel runs it (here in this process), then the trusted re-run."""
    import IPython.display

    import cnnlib.checks.tour as tour

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    calls = replay.check_calls(FLATTEN_CHECK)
    code = replay.recorder_source(calls)

    def sent(flatten_batch):
        shown.clear()
        exec(code, {"flatten_batch": flatten_batch})
        return shown[0][replay.MIME]["calls"]

    def noisy(x):  # an honest answer that draws random numbers: the check's inputs stay the same
        import torch
        torch.rand(5)
        return x.reshape(len(x), -1)

    with replay.TrustedChecker() as checker:
        def verdicts(fn):
            return [ok for ok, _ in checker.verify(list(zip(calls, sent(fn))))]

        assert verdicts(lambda x: x.reshape(len(x), -1)) == [True, True]
        assert verdicts(noisy) == [True, True]
        assert verdicts(lambda x: x.reshape(-1)) == [False, False]
        monkeypatch.setattr(tour, "check_flatten_batch", lambda *a, **k: None)  # patched in "the kernel"
        assert verdicts(lambda x: x.reshape(-1)) == [False, False]


def test_the_trusted_verdict_decides_the_points():
    from nbformat.v4 import new_output

    from cnnlib.grading.autograde import FAILED, GRADER_ERROR, PASSED, Exercise, _Run, _score

    cell = new_code_cell("check_x(x)", metadata=_meta("ex1-check", grade=True, locked=True, points=2))
    cell.outputs = [new_output("stream", name="stdout", text="all checks passed\n")]
    ex = Exercise("ex1-check", "Ex 1", 2.0, False, ())
    for trusted, expected in [({}, (2, PASSED)), ({"ex1-check": (True, "")}, (2, PASSED)),
                              ({"ex1-check": (None, "a class")}, (2, PASSED)),
                              ({"ex1-check": (False, "wrong")}, (0, FAILED)),
                              ({"ex1-check": (GRADER_ERROR, "crashed")}, (None, GRADER_ERROR))]:
        run = _Run(new_notebook(cells=[cell]), {"ex1-check"}, stopped_at=1, note="", timeout=5, trusted=trusted)
        assert _score(ex, run)[:2] == expected, trusted


# Exercises whose answer is a class the check instantiates: not replayable as plain data,
# they keep the kernel's verdict (said in cnnlib.grading.replay and the README).
KERNEL_ONLY = {("08_nin_googlenet", "ex1-check"), ("10_resnet", "ex2-check")}


def test_every_course_check_replays_for_the_source_solutions(monkeypatch):
    """Each check cell of the course, after the instructor's solution cells (run here, in this
    process, as a kernel would), passes the trusted re-run: the replay is deterministic and
    takes every answer the course asks for. No kernel; solutions that need the lesson's
    variables would be skipped (none today)."""
    import IPython.display

    from cnnlib.grading.release import numbered_notebooks

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    prelude = "import math\nimport numpy as np\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
    kernel_only, checked = set(), 0
    with replay.TrustedChecker() as checker:
        for path in numbered_notebooks():
            ns: dict = {}
            exec(prelude, ns)
            for cell in nbformat.read(path, as_version=4).cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type != "code":
                    continue
                if meta.get("solution"):
                    exec(cell.source, ns)
                elif meta.get("grade"):
                    calls = replay.check_calls(cell.source)
                    assert calls, (path.name, meta["grade_id"])
                    shown.clear()
                    exec(replay.recorder_source(calls), ns)
                    verdicts = checker.verify(list(zip(calls, shown[0][replay.MIME]["calls"])))
                    checked += 1
                    if all(ok is None for ok, _ in verdicts):
                        kernel_only.add((path.stem, meta["grade_id"]))
                    else:
                        assert all(ok is True for ok, _ in verdicts), (path.name, meta["grade_id"], verdicts)
    assert kernel_only == KERNEL_ONLY and checked > 30


def test_follow_up_cells_are_added_and_taken_back():
    from nbformat.v4 import new_output

    from cnnlib.grading.autograde import REPLAY_KEY, TIMED_OUT, _add_recorders, _take_recorders

    nb = checked_source()
    forged = new_code_cell("x = 1", metadata={REPLAY_KEY: {"token": "guess", "grade_id": "ex1-check"}})
    nb.cells.insert(1, forged)
    calls = {"ex1-check": replay.check_calls(nb.cells[5].source), "ex2-check": replay.check_calls(FLATTEN_CHECK)}
    n = len(nb.cells)
    token = _add_recorders(nb, calls)
    assert len(nb.cells) == n + 2 and REPLAY_KEY not in forged.metadata
    added = [i for i, c in enumerate(nb.cells) if REPLAY_KEY in c.metadata]
    assert [nb.cells[i - 1].metadata["nbgrader"]["grade_id"] for i in added] == ["ex1-check", "ex2-check"]
    nb.cells[added[0]].outputs = [new_output("display_data", data={replay.MIME: {"calls": [{"error": "x"}]}})]
    nb.cells[added[1]].outputs = [new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
    sent, stopped_at = _take_recorders(nb, token, stopped_at=added[1] + 1)
    assert sent == {"ex1-check": [{"error": "x"}], "ex2-check": TIMED_OUT}
    assert len(nb.cells) == n and stopped_at == added[1] - 1

"""The autograder (cnnlib.grading.autograde, report, CLI).

Kernel runs are the cost here, so they are few: notebook 00 twice (the source as it is, a
cut-down copy with a wrong solution) and a small synthetic notebook in tmp_path for the
broken submissions (stub, crash, endless loops, deleted and tampered cells, not JSON).
Set CNNLIB_FULL_GRADING_TESTS=1 to also grade every course notebook whole: the source
gets full marks, the student version none (several minutes).
"""
from __future__ import annotations

import copy
import csv
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cnnlib.grading.__main__ import main
from cnnlib.grading.autograde import default_out, exercises, grade
from cnnlib.grading.release import SOURCE_DIR, numbered_notebooks, student_version

TOY = "01_toy"
TIMEOUT = 5  # seconds per cell for the synthetic notebook


def _meta(grade_id: str, grade: bool = False, solution: bool = False, locked: bool = False, points: int | None = None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def toy_source() -> nbformat.NotebookNode:
    """A tiny course notebook in the course's markup: four exercises, no heavy imports."""
    cells = [
        new_markdown_cell("# Toy lesson"),
        new_code_cell("import math\nimport sys\nprint(math.pi > 3)"),
        new_markdown_cell("## Exercises\n\n### Exercise 1 (implement, 2 points)\nWrite `double(x)`.",
                          metadata=_meta("ex1-text", locked=True)),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=_meta("ex1-answer", solution=True)),
        new_code_cell("assert double(2) == 4, f'double(2) is {double(2)}, expected 4: did you add 2 instead of doubling?'\n"
                      "### BEGIN HIDDEN TESTS\nassert double(5) == 10\n### END HIDDEN TESTS",
                      metadata=_meta("ex1-check", grade=True, locked=True, points=2)),
        new_markdown_cell("### Exercise 2 (compute, 1 point)\nStore 3 squared in `sq`.", metadata=_meta("ex2-text", locked=True)),
        new_code_cell("sq = ...\n### BEGIN SOLUTION\nsq = 3 ** 2\n### END SOLUTION", metadata=_meta("ex2-answer", solution=True)),
        new_code_cell("assert sq is not ..., 'sq is not implemented yet'\nassert sq == 9, f'sq is {sq}, expected 9'",
                      metadata=_meta("ex2-check", grade=True, locked=True, points=1)),
        new_markdown_cell("### Exercise 3 (explain, 2 points, graded by hand)\nWhy is 2 * x the same as x + x?",
                          metadata=_meta("ex3-text", locked=True)),
        new_markdown_cell("=== BEGIN MARK SCHEME ===\nDistributivity.\n=== END MARK SCHEME ===",
                          metadata=_meta("ex3-answer", grade=True, solution=True, points=2)),
        new_markdown_cell("### Exercise 4 (implement, 1 point)\nWrite `triple(x)`.", metadata=_meta("ex4-text", locked=True)),
        new_code_cell("def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION",
                      metadata=_meta("ex4-answer", solution=True)),
        new_code_cell("assert triple(2) == 6, f'triple(2) is {triple(2)}, expected 6'",
                      metadata=_meta("ex4-check", grade=True, locked=True, points=1)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _by_id(nb) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def _answer(nb, **sources: str):
    """A copy of ``nb`` with the cells ``grade_id=source`` rewritten (``-`` for ``_`` in ids)."""
    nb = copy.deepcopy(nb)
    cells = _by_id(nb)
    for grade_id, source in sources.items():
        cells[grade_id.replace("_", "-")].source = source
    return nb


def _delete(nb, *grade_ids: str):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return nb


def _write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _rows(path: Path) -> dict[tuple[str, str, str], dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["student"], r["notebook"], r["grade_id"]): r for r in csv.DictReader(f)}


# ---- notebook 00: the real source, and a wrong solution ------------------------------

@pytest.fixture(scope="module")
def graded_00(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade00")
    source = nbformat.read(SOURCE_DIR / "00_setup_and_tour.ipynb", as_version=4)
    subs = root / "submitted"
    _write(source, subs / "alice" / "00_setup_and_tour.ipynb")
    # bob keeps only the exercises (deleting the lesson cells is allowed) and flattens
    # the batch axis away
    student = student_version(source)
    start = next(i for i, c in enumerate(student.cells) if c.source.startswith("## Exercises"))
    bob = copy.deepcopy(student)
    bob.cells = [new_code_cell("import torch")] + bob.cells[start:]
    bob = _answer(bob, ex1_answer="batch_shape = (16, 3, 120, 160)\nconv_shape = (16, 8, 116, 156)",
                  ex2_answer="def flatten_batch(x):\n    return x.reshape(-1)",
                  ex3_answer="N images, C channels, H rows, W columns.")
    _write(bob, subs / "bob" / "00_setup_and_tour.ipynb")
    (subs / "README.txt").write_text("files beside the student folders are ignored")
    out = root / "graded"
    assert main(["grade", str(subs), "--out", str(out), "--notebooks", "00"]) == 0
    return subs, out, _rows(out / "grades.csv")


def test_source_notebook_gets_full_marks(graded_00):
    _, out, rows = graded_00
    alice = {k[2]: r for k, r in rows.items() if k[0] == "alice"}
    assert set(alice) == {"ex1-check", "ex2-check", "ex3-answer"}
    for grade_id in ("ex1-check", "ex2-check"):
        assert alice[grade_id]["status"] == "passed", alice[grade_id]
        assert alice[grade_id]["points"] == alice[grade_id]["max_points"]
    assert alice["ex3-answer"]["status"] == "needs manual grading" and alice["ex3-answer"]["points"] == ""
    assert alice["ex3-answer"]["max_points"] == "2"
    feedback = (out / "feedback" / "alice" / "00_setup_and_tour.md").read_text()
    assert "**4 / 4**" in feedback and "waiting for a grader" in feedback
    ran = nbformat.read(out / "autograded" / "alice" / "00_setup_and_tour.ipynb", as_version=4)
    check = _by_id(ran)["ex2-check"]
    assert "BEGIN HIDDEN TESTS" in check.source  # hidden tests ran
    assert any("all checks passed" in o.get("text", "") for o in check.outputs)


def test_wrong_solution_loses_only_its_exercise(graded_00):
    _, out, rows = graded_00
    bob = {k[2]: r for k, r in rows.items() if k[0] == "bob"}
    assert (bob["ex1-check"]["status"], bob["ex1-check"]["points"]) == ("passed", "2")
    assert (bob["ex2-check"]["status"], bob["ex2-check"]["points"]) == ("failed", "0")
    assert "keep the batch axis" in bob["ex2-check"]["message"]
    assert bob["ex3-answer"]["status"] == "needs manual grading"
    feedback = (out / "feedback" / "bob" / "00_setup_and_tour.md").read_text()
    assert "**2 / 4**" in feedback and "keep the batch axis" in feedback
    assert "> N images, C channels, H rows, W columns." in feedback


def test_grading_refuses_to_overwrite(graded_00, capsys):
    subs, out, _ = graded_00
    before = (out / "grades.csv").read_text()
    capsys.readouterr()
    assert main(["grade", str(subs), "--out", str(out), "--notebooks", "00"]) == 1
    err = capsys.readouterr().err
    assert "--force" in err and "--out" in err
    assert (out / "grades.csv").read_text() == before


# ---- a synthetic notebook and broken submissions -------------------------------------

@pytest.fixture(scope="module")
def graded_toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    source = toy_source()
    _write(source, root / "course" / f"{TOY}.ipynb")
    stub = student_version(source)
    subs = root / "submitted"
    _write(stub, subs / "stub" / f"{TOY}.ipynb")
    _write(_answer(stub, ex1_answer="import warnings\ndef double(x):\n    warnings.warn('slow')\n    return x + x",
                   ex2_answer="sq = 9",
                   ex3_answer="Because x + x = (1 + 1) x.",
                   ex4_answer="import os\ndef triple(x):\n    os._exit(1)"),
           subs / "crash" / f"{TOY}.ipynb")
    _write(_answer(stub, ex1_answer="def double(x):\n    while True:\n        pass",
                   ex2_answer="sq = ", ex3_answer="It is.",
                   ex4_answer="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
           subs / "endless" / f"{TOY}.ipynb")
    _write(_delete(_answer(stub, ex2_answer="sq = 9"), "ex1-answer", "ex2-check", "ex3-answer"),
           subs / "deleted" / f"{TOY}.ipynb")
    tampered = _answer(stub, ex1_answer="def double(x):\n    return x + 2", ex1_check="pass", ex2_answer="sq = 8",
                       ex4_answer="def triple(x):\n    print('debugging', file=sys.stderr)\n    return 3 * x")
    _by_id(tampered)["ex2-check"].metadata["nbgrader"]["points"] = 100
    _write(tampered, subs / "tampered" / f"{TOY}.ipynb")
    (subs / "broken").mkdir()
    (subs / "broken" / f"{TOY}.ipynb").write_text("{this is not json")
    _write(stub, subs / "nobody" / "99_unknown.ipynb")
    _write(stub, subs / ".hidden" / f"{TOY}.ipynb")
    out = root / "graded"
    out.mkdir()
    (out / "old.txt").write_text("a file from an earlier run")
    run = grade(subs, out, source_dir=root / "course", timeout=TIMEOUT, force=True)
    return run, {(g.student, g.grade_id): g for g in run.grades}, out


def test_toy_students_and_rows(graded_toy):
    run, grades, out = graded_toy
    assert {g.student for g in run.grades} == {"stub", "crash", "endless", "deleted", "tampered", "broken", "nobody"}
    assert len(_rows(out / "grades.csv")) == 7 * 4
    assert (out / "old.txt").exists()  # --force overwrites what it writes, deletes nothing


def test_stub_scores_nothing(graded_toy):
    _, grades, _ = graded_toy
    for grade_id in ("ex1-check", "ex2-check", "ex3-answer", "ex4-check"):
        g = grades["stub", grade_id]
        assert (g.points, g.status) == (0, "unanswered"), g
    assert "NotImplementedError" in grades["stub", "ex1-check"].message
    assert grades["stub", "ex3-answer"].message == "no answer written"


def test_crash_keeps_the_points_before_it(graded_toy):
    run, grades, out = graded_toy
    # passed, although its UserWarning went to stderr (nbgrader's IgnorePattern)
    assert (grades["crash", "ex1-check"].points, grades["crash", "ex1-check"].status) == (2, "passed")
    assert grades["crash", "ex2-check"].status == "passed"
    assert grades["crash", "ex3-answer"].status == "needs manual grading"
    g = grades["crash", "ex4-check"]
    assert (g.points, g.status) == (0, "crashed") and "kernel died" in g.message
    feedback = (out / "feedback" / "crash" / f"{TOY}.md").read_text()
    assert "kernel died" in feedback and "**3 / 4**" in feedback


def test_endless_loops_time_out_and_grading_goes_on(graded_toy):
    _, grades, _ = graded_toy
    g = grades["endless", "ex1-check"]
    assert (g.points, g.status) == (0, "timeout") and f"{TIMEOUT} s" in g.message
    g = grades["endless", "ex2-check"]
    assert g.status == "error" and "SyntaxError" in g.message and "sq" in g.message
    assert grades["endless", "ex3-answer"].status == "needs manual grading"
    g = grades["endless", "ex4-check"]  # the loop ignored the interrupt: the run ended there
    assert (g.points, g.status) == (0, "not run") and "stopped responding" in g.message


def test_deleted_cells(graded_toy):
    run, grades, out = graded_toy
    g = grades["deleted", "ex1-check"]
    assert (g.points, g.status) == (0, "unanswered") and "ex1-answer" in g.message
    assert (grades["deleted", "ex2-check"].points, grades["deleted", "ex2-check"].status) == (1, "passed")
    assert grades["deleted", "ex3-answer"].status == "unanswered"
    assert "deleted" in grades["deleted", "ex3-answer"].message
    ran = nbformat.read(out / "autograded" / "deleted" / f"{TOY}.ipynb", as_version=4)
    nbformat.validate(ran)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in ran.cells if "nbgrader" in c.metadata]
    assert ids.index("ex2-answer") < ids.index("ex2-check") < ids.index("ex3-text") < ids.index("ex3-answer")


def test_tampered_cells_are_restored_with_hidden_tests(graded_toy):
    _, grades, _ = graded_toy
    g = grades["tampered", "ex1-check"]  # x + 2 passes double(2) only; the hidden test catches it
    assert (g.points, g.status) == (0, "failed") and "double(5) == 10" in g.message
    g = grades["tampered", "ex2-check"]
    assert (g.points, g.max_points, g.status) == (0, 1, "failed") and "sq is 8, expected 9" in g.message
    g = grades["tampered", "ex4-check"]  # nbgrader: output on stderr fails a check
    assert (g.points, g.status) == (0, "failed") and "debugging" in g.message


def test_unreadable_and_missing_notebooks(graded_toy):
    _, grades, out = graded_toy
    assert grades["broken", "ex1-check"].status == "unreadable"
    assert grades["nobody", "ex1-check"].status == "missing"
    assert not (out / "feedback" / "nobody").exists()
    assert (out / "feedback" / "broken" / f"{TOY}.md").exists()


def test_exercises_of_the_toy():
    found = exercises(toy_source())
    assert [e.grade_id for e in found] == ["ex1-check", "ex2-check", "ex3-answer", "ex4-check"]
    assert [e.solutions for e in found] == [("ex1-answer",), ("ex2-answer",), ("ex3-answer",), ("ex4-answer",)]
    assert found[2].manual and found[0].title == "Exercise 1 (implement, 2 points)"


def test_command_line_errors(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty")]) == 2
    _write(toy_source(), tmp_path / "subs" / "ann" / "77_nothing.ipynb")
    assert main(["grade", str(tmp_path / "subs")]) == 2
    assert main(["grade", str(tmp_path / "subs"), "--notebooks", "77"]) == 2
    err = capsys.readouterr().err
    assert "no submissions folder" in err and "no student folders" in err and "no course notebook" in err
    assert default_out(tmp_path / "subs") == tmp_path.resolve() / "subs-graded"


# ---- optional: every course notebook, whole ------------------------------------------

@pytest.mark.skipif(not os.environ.get("CNNLIB_FULL_GRADING_TESTS"), reason="set CNNLIB_FULL_GRADING_TESTS=1 (minutes)")
def test_every_source_gets_full_marks_and_every_stub_none(tmp_path):
    subs = tmp_path / "submitted"
    for path in numbered_notebooks():
        nb = nbformat.read(path, as_version=4)
        _write(nb, subs / "source" / path.name)
        _write(student_version(nb), subs / "stub" / path.name)
    run = grade(subs, tmp_path / "graded", timeout=300)
    for g in run.grades:
        if g.student == "source":
            assert g.status == ("needs manual grading" if g.manual else "passed"), g
        else:
            assert g.points == 0 and g.status == "unanswered", g


def test_grading_kernels_run_without_the_plain_tcp_warning(capfd):
    from nbformat.v4 import new_code_cell as code, new_notebook as notebook

    from cnnlib.grading.autograde import execute, kernel_config

    assert kernel_config(curve=True).KernelManager.transport_encryption == "auto"
    assert "transport_encryption" not in kernel_config(curve=False).KernelManager
    nb = notebook(cells=[code("print(6 * 7)")])
    assert execute(nb, {"metadata": {"path": "."}}) == (1, "")
    assert nb.cells[0].outputs[0].text == "42\n"
    import zmq
    if zmq.has("curve"):  # the kernel's stderr goes to the grader's terminal
        assert "without encryption" not in capfd.readouterr().err

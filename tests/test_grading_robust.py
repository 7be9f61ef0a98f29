"""The autograder against careless and hostile submissions that must not cost anyone
points or break the run: duplicated cells, huge outputs, spreadsheet formulas, rigged
point claims, output folders inside the submissions, slow lesson cells, notebooks that
run too long. (Isolation of the student's code from the grader is not covered here.)

Kernel runs are the cost: one small synthetic course with a few students, run once per
fixture, with short limits.
"""
from __future__ import annotations

import copy
import csv
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import TOY, _answer, _by_id, _rows, _write, toy_source  # noqa: E402

from cnnlib.grading.__main__ import main  # noqa: E402
from cnnlib.grading.autograde import ERROR, Exercise, _Run, _score, grade  # noqa: E402
from cnnlib.grading.release import release, student_version  # noqa: E402
from cnnlib.grading.report import write_csv  # noqa: E402

RIGHT = dict(ex1_answer="def double(x):\n    return 2 * x", ex2_answer="sq = 9", ex3_answer="x + x = (1 + 1) x.",
             ex4_answer="def triple(x):\n    return 3 * x")


def slow_source(seconds_var: str = "TOY_SLEEP") -> nbformat.NotebookNode:
    """The toy course with a lesson cell that sleeps as long as an environment variable says."""
    nb = toy_source()
    nb.cells.insert(2, new_code_cell(f"import os, time\ntime.sleep(float(os.environ.get('{seconds_var}', '0')))"))
    return nb


@pytest.fixture(scope="module")
def careless(tmp_path_factory):
    root = tmp_path_factory.mktemp("careless")
    source = toy_source()
    _write(source, root / "course" / f"{TOY}.ipynb")
    stub = student_version(source)
    subs = root / "submitted"
    right = _answer(stub, **RIGHT)
    # an honest student who duplicated a solution cell (the copy keeps its metadata)
    dup = copy.deepcopy(right)
    i = next(i for i, c in enumerate(dup.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1-answer")
    first = copy.deepcopy(dup.cells[i])
    first.source = "def double(x):\n    return x + 2  # first try"
    first["id"] = "firsttry"
    dup.cells.insert(i, first)
    _write(dup, subs / "dup" / f"{TOY}.ipynb")
    # 10 MB on one line, and a student folder and message that would be spreadsheet formulas
    _write(_answer(right, ex2_answer="print('x' * 10_000_000)\nsq = 9"), subs / "loud" / f"{TOY}.ipynb")
    _write(_answer(stub, ex2_answer="raise ValueError('=HYPERLINK(\"http://x\")')"), subs / "=cmd" / f"{TOY}.ipynb")
    _write(right, subs / "honest" / f"{TOY}.ipynb")
    out = root / "graded"
    run = grade(subs, out, source_dir=root / "course", timeout=10)
    return run, {(g.student, g.grade_id): g for g in run.grades}, out


def test_duplicated_solution_cell_is_graded_not_rejected(careless):
    _, grades, _ = careless
    for grade_id in ("ex1-check", "ex2-check", "ex4-check"):
        assert grades["dup", grade_id].status == "passed", grades["dup", grade_id]


def test_huge_output_is_capped_and_costs_no_points(careless):
    _, grades, out = careless
    assert grades["loud", "ex2-check"].status == "passed"
    ran = out / "autograded" / "loud" / f"{TOY}.ipynb"
    assert ran.stat().st_size < 200_000
    assert "Output truncated" in ran.read_text()


def test_csv_cells_never_start_a_formula(careless):
    _, grades, out = careless
    assert grades["=cmd", "ex2-check"].status == "error"
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for row in rows:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@"), row
    assert any(r[0] == "'=cmd" for r in rows)
    assert _rows(out / "grades.csv")[("honest", TOY, "ex1-check")]["status"] == "passed"


def test_write_csv_neutralizes_every_formula_start(tmp_path):
    from cnnlib.grading.autograde import Grade

    grades = [Grade(s, "01", "ex", 1.0, 1.0, "passed", m) for s, m in
              [("=a", "+1"), ("@b", "-2"), ("\tc", "\rd"), ("plain", "a = b")]]
    write_csv(grades, tmp_path / "g.csv")
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    assert [(r[0], r[6]) for r in rows] == [("'=a", "'+1"), ("'@b", "'-2"), ("'\tc", "'\rd"), ("plain", "a = b")]
    assert not (tmp_path / "g.csv.part").exists()


def test_a_claim_of_more_points_than_the_cell_is_worth_scores_zero_and_grading_goes_on():
    cell = new_code_cell("check()", metadata={"nbgrader": {"grade": True, "grade_id": "ex1-check", "points": 2,
                                                           "solution": False, "locked": True, "schema_version": 3}})
    cell.outputs = [new_output("execute_result", data={"text/plain": "1000"}, execution_count=1)]
    nb = nbformat.v4.new_notebook(cells=[cell])
    run = _Run(nb, {"ex1-check"}, stopped_at=1, note="", timeout=5)
    points, status, message = _score(Exercise("ex1-check", "Ex 1", 2.0, False, ()), run)
    assert (points, status) == (0.0, ERROR) and "tampered" in message


def test_output_folder_inside_the_submissions_or_sources_is_refused(careless, tmp_path, capsys):
    run, _, out = careless
    subs = out.parent / "submitted"
    for bad in (subs, subs / "graded"):
        assert main(["grade", str(subs), "--out", str(bad), "--force", "--source", str(out.parent / "course")]) == 2
    assert main(["grade", str(subs), "--out", str(out.parent / "course"), "--force",
                 "--source", str(out.parent / "course")]) == 2
    err = capsys.readouterr().err
    assert "inside the submissions folder" in err and "overlaps the source" in err
    assert not (subs / "graded").exists()


def test_release_never_writes_into_the_source_folder(tmp_path):
    _write(toy_source(), tmp_path / "course" / f"{TOY}.ipynb")
    before = (tmp_path / "course" / f"{TOY}.ipynb").read_text()
    for force in (False, True):
        with pytest.raises(ValueError, match="folder of the source notebooks"):
            release(tmp_path / "course", tmp_path / "course", force=force)
    assert main(["release", "--source", str(tmp_path / "course"), "--out", str(tmp_path / "course"), "--force"]) == 2
    assert (tmp_path / "course" / f"{TOY}.ipynb").read_text() == before


@pytest.fixture
def slow_course(tmp_path):
    _write(slow_source(), tmp_path / "course" / f"{TOY}.ipynb")
    subs = tmp_path / "submitted"
    _write(_answer(student_version(slow_source()), **RIGHT), subs / "honest" / f"{TOY}.ipynb")
    return tmp_path, subs


def test_a_lesson_cell_slow_once_is_retried_with_a_larger_limit(slow_course, monkeypatch):
    root, subs = slow_course
    monkeypatch.setenv("TOY_SLEEP", "2.5")  # over the 2 s limit, under the retry's 4 s
    run = grade(subs, root / "graded", source_dir=root / "course", timeout=2)
    got = {g.grade_id: g for g in run.grades}
    assert got["ex1-check"].status == got["ex4-check"].status == "passed", got


def test_a_lesson_cell_always_too_slow_is_a_grader_error_not_a_zero(slow_course, monkeypatch):
    root, subs = slow_course
    monkeypatch.setenv("TOY_SLEEP", "30")
    run = grade(subs, root / "graded", source_dir=root / "course", timeout=2)
    for g in run.grades:
        if not g.manual:
            assert (g.points, g.status) == (None, "grader error") and "TIMEOUT" in g.message, g
    rows = _rows(root / "graded" / "grades.csv")
    assert rows[("honest", TOY, "ex1-check")]["points"] == ""


def test_a_slow_cell_the_student_wrote_is_the_students(slow_course, monkeypatch):
    root, subs = slow_course
    nb = nbformat.read(subs / "honest" / f"{TOY}.ipynb", as_version=4)
    nb.cells.insert(2, new_code_cell("import time\ntime.sleep(30)"))
    _write(nb, subs / "honest" / f"{TOY}.ipynb")
    run = grade(subs, root / "graded", source_dir=root / "course", timeout=2)
    got = {g.grade_id: g for g in run.grades}
    assert "grader error" not in {g.status for g in run.grades}
    assert got["ex1-check"].status == "passed"  # the student's sleep was interrupted, the rest ran


def test_the_whole_notebook_has_a_time_limit(slow_course, monkeypatch):
    root, subs = slow_course
    monkeypatch.setenv("TOY_SLEEP", "1.5")  # under the per-cell limit, over the notebook's
    run = grade(subs, root / "graded", source_dir=root / "course", timeout=5, notebook_timeout=1)
    got = {g.grade_id: g for g in run.grades}
    assert got["ex1-check"].status == "not run" and "time limit (1 s in all)" in got["ex1-check"].message

"""Student releases of every numbered notebook (cnnlib.grading.release).

Static tests run over ALL course notebooks (cheap: no kernel). That every check fails on
the student stub is tested for all notebooks too, in ONE kernel: for each notebook, the
namespace is reset, the lesson's import statements that the exercises use run, then its
exercise section as released; each check must fail with its feedback (CheckFailed,
NotImplementedError or AssertionError), not with e.g. a NameError. (The slower variant,
each student notebook run whole by the grader, is in tests/test_grading.py, enabled with
CNNLIB_FULL_GRADING_TESTS=1.)
"""
from __future__ import annotations

import ast
import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from cnnlib.grading.__main__ import main
from cnnlib.grading.release import SOURCE_DIR, grader_version, numbered_notebooks, student_version

NOTEBOOKS = numbered_notebooks()
MARKERS = {
    "solution": ("BEGIN SOLUTION", "END SOLUTION"),
    "hidden": ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
    "mark scheme": ("BEGIN MARK SCHEME", "END MARK SCHEME"),
}
EXERCISE = re.compile(r"^### Exercise (\d+) \((implement|compute|explain), (\d+) points?", re.M)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _exercises_start(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))


def _regions(source: str, begin: str, end: str) -> list[str]:
    """The stripped, non-empty lines inside ``begin``/``end`` regions."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def _output_texts(cell) -> list[str]:
    texts = []
    for o in cell.get("outputs", []):
        texts += [o.get("text", ""), o.get("data", {}).get("text/plain", ""), o.get("evalue", "")]
    return [t if isinstance(t, str) else "".join(t) for t in texts]


@pytest.fixture(scope="module")
def versions() -> dict[str, tuple]:
    return {p.stem: (nb, student_version(nb)) for p in NOTEBOOKS for nb in [nbformat.read(p, as_version=4)]}


def test_there_are_course_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_setup_and_tour.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_markup(path, versions):
    source, _ = versions[path.stem]
    start = _exercises_start(source)  # StopIteration: no "## Exercises" heading
    cells = [c for c in source.cells if "nbgrader" in c.metadata]
    assert cells and all(source.cells.index(c) >= start for c in cells), "exercise cells belong after '## Exercises'"
    ids = [_nbgrader(c).get("grade_id") for c in cells]
    assert all(ids), f"every nbgrader cell needs a grade_id: {ids}"
    assert len(set(ids)) == len(ids), f"grade_ids must be unique: {ids}"
    for c in cells:
        meta = _nbgrader(c)
        assert meta.get("schema_version") == 3, meta
        if meta.get("grade"):
            assert float(meta["points"]) > 0, meta
            assert c.cell_type == "markdown" and meta["solution"] or meta["locked"], f"check cells are locked: {meta}"
        if meta.get("solution") and c.cell_type == "code":
            assert "### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source, meta["grade_id"]

    # >= 3 exercises, one of each kind; the points in the task text match the graded cells
    text = "\n".join(c.source for c in source.cells[start:] if c.cell_type == "markdown")
    tasks = EXERCISE.findall(text)
    assert len(tasks) >= 3, f"at least three exercises, found {tasks}"
    assert {"implement", "compute", "explain"} <= {kind for _, kind, _ in tasks}
    points, current = {}, None
    for c in source.cells[start:]:
        m = EXERCISE.findall(c.source) if c.cell_type == "markdown" else []
        if m:
            current = m[-1][0]
        if _nbgrader(c).get("grade"):
            assert current is not None, f"{_nbgrader(c)['grade_id']} comes before any '### Exercise' heading"
            points[current] = points.get(current, 0) + float(_nbgrader(c)["points"])
    assert points == {n: float(p) for n, _, p in tasks}, "points in the task text vs graded cells"
    explain = [c for c in cells if c.cell_type == "markdown" and _nbgrader(c).get("grade")]
    assert explain and all(_nbgrader(c)["solution"] for c in explain)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_hides_answers(path, versions):
    source, student = versions[path.stem]
    everywhere = nbformat.writes(student)
    for begin, end in MARKERS.values():
        assert begin not in everywhere and end not in everywhere
    # every line of a solution, hidden test or mark scheme is gone, unless the lesson
    # itself shows the same line outside such a region
    taught = set()
    for c in source.cells:
        outside = c.source
        for begin, end in MARKERS.values():
            outside = "\n".join(ln for ln in outside.splitlines() if ln.strip() not in set(_regions(c.source, begin, end)))
        taught |= {ln.strip() for ln in outside.splitlines()}
    student_lines = {ln.strip() for c in student.cells for text in [c.source] + _output_texts(c)
                     for ln in text.splitlines()}
    for what, (begin, end) in MARKERS.items():
        secret = {ln for c in source.cells for ln in _regions(c.source, begin, end)} - taught
        assert not secret & student_lines, f"{what} text in the student version: {secret & student_lines}"
    assert len(student.cells) == len(source.cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_outputs_and_stubs(path, versions):
    source, student = versions[path.stem]
    for src, stu in zip(source.cells, student.cells):
        meta = _nbgrader(stu)
        if not meta:  # taught as it is, outputs included
            assert stu.source == src.source and stu.get("outputs") == src.get("outputs")
            continue
        assert stu.metadata.get("deletable") is False, meta["grade_id"]
        if stu.cell_type == "code":
            assert stu.outputs == [] and stu.execution_count is None, meta["grade_id"]
        if meta.get("solution"):
            stub = "raise NotImplementedError()" if stu.cell_type == "code" else "YOUR ANSWER HERE"
            assert stub in stu.source, meta["grade_id"]
        elif meta.get("locked"):
            assert stu.metadata.get("editable") is False, meta["grade_id"]


def test_grader_version_keeps_hidden_tests_and_source_is_unchanged():
    path = SOURCE_DIR / "00_setup_and_tour.ipynb"
    source = nbformat.read(path, as_version=4)
    before = nbformat.writes(source)
    grader = grader_version(source)
    assert nbformat.writes(source) == before
    text = "\n".join(c.source for c in grader.cells)
    assert "BEGIN HIDDEN TESTS" in text and "BEGIN SOLUTION" not in text


def test_release_command_writes_every_notebook_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "release"
    assert main(["release", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [p.name for p in NOTEBOOKS]
    # the diagrams the markdown cells show come along, so the student versions show them too
    figures = sorted(p.name for p in (NOTEBOOKS[0].parent / "figures").glob("*.svg"))
    assert figures and sorted(p.name for p in (out / "figures").iterdir()) == figures
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["figures"]
    nb = nbformat.read(out / NOTEBOOKS[0].name, as_version=4)
    nbformat.validate(nb)
    stamp = (out / NOTEBOOKS[0].name).stat().st_mtime_ns
    capsys.readouterr()
    assert main(["release", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "already exist" in err and "--force" in err
    assert (out / NOTEBOOKS[0].name).stat().st_mtime_ns == stamp
    assert main(["release", "--out", str(out), "--force"]) == 0


def test_release_of_an_empty_folder_says_so(tmp_path, capsys):
    assert main(["release", "--source", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no course notebooks" in capsys.readouterr().err


# ---- every check fails on the student stub, with the "not implemented" feedback ----

def _names(source: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def _imports(nb, stop: int) -> str:
    """The import statements of the lesson (cells before ``stop``) that the exercises use."""
    used = set().union(*(_names(c.source) for c in nb.cells[stop:] if c.cell_type == "code"))
    found = []
    for c in nb.cells[:stop]:
        if c.cell_type != "code":
            continue
        try:
            tree = ast.parse(c.source)
        except SyntaxError:  # IPython magics
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                bound = {(a.asname or a.name).split(".")[0] for a in node.names}
                if bound & used:
                    found.append(ast.get_source_segment(c.source, node))
    return "\n".join(found)


@pytest.fixture(scope="module")
def stub_runs(versions) -> dict[str, dict[str, list]]:
    """{notebook: {check grade_id: error outputs}} from one kernel for all notebooks."""
    cells, where = [], []
    for name, (source, student) in versions.items():
        start = _exercises_start(student)
        cells += [new_code_cell("%reset -f"), new_code_cell(_imports(student, start))]
        where += [None, None]
        for c in student.cells[start:]:
            if c.cell_type == "code":
                cells.append(new_code_cell(c.source))
                where.append((name, _nbgrader(c).get("grade_id"), bool(_nbgrader(c).get("grade"))))
    nb = new_notebook(cells=cells)
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(SOURCE_DIR)}}).execute()
    for c, w in zip(nb.cells, where):
        if w is None:
            assert not [o for o in c.outputs if o.output_type == "error"], f"imports failed: {c.source}"
    runs: dict[str, dict[str, list]] = {name: {} for name in versions}
    for c, w in zip(nb.cells, where):
        if w and w[2]:
            runs[w[0]][w[1]] = [o for o in c.outputs if o.output_type == "error"]
    return runs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_check_fails_on_the_student_stub(path, stub_runs):
    checks = stub_runs[path.stem]
    assert checks, "no auto-graded check cells"
    for grade_id, errors in checks.items():
        assert errors, f"{grade_id} passes on the student stub: a check that cannot fail"
        e = errors[0]  # feedback, not a crash such as a NameError from a missing answer variable
        assert e.ename in ("CheckFailed", "NotImplementedError", "AssertionError"), (
            f"{grade_id} fails on the stub with {e.ename}: {e.evalue} - expected the check's feedback")

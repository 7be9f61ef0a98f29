"""The learner's workspace (cnnlib.grading.workspace, ``make lab``): first run, a second run
after the learner edited a copy, an upstream change (reported, never overwritten), updates on
request, solution copies, and the real course's first notebook."""
from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cnnlib.grading.release import SOURCE_DIR
from cnnlib.grading.workspace import MANIFEST, NOTE_TAG, refresh, without_progress_bars


def _lesson(answer: str = "x = 2", text: str = "A lesson.") -> nbformat.NotebookNode:
    solution = new_code_cell(f"x = ...\n### BEGIN SOLUTION\n{answer}\n### END SOLUTION\n")
    solution.metadata.nbgrader = {"grade": False, "grade_id": "ex1", "locked": False, "solution": True,
                                  "schema_version": 3}
    check = new_code_cell("assert x == 2\n### BEGIN HIDDEN TESTS\nassert x + 1 == 3\n### END HIDDEN TESTS\n")
    check.metadata.nbgrader = {"grade": True, "grade_id": "ex1-check", "locked": True, "solution": False,
                               "points": 1, "schema_version": 3}
    lesson = new_code_cell("print(6 * 7)", outputs=[new_output("stream", name="stdout", text="42\n")])
    return new_notebook(cells=[new_markdown_cell(text), lesson, solution, check])


@pytest.fixture
def course(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    for name in ("00_intro.ipynb", "01_more.ipynb"):
        nbformat.write(_lesson(), src / name)
    return src, tmp_path / "my-notebooks"


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_first_run_copies_student_versions_and_solutions(course):
    src, ws = course
    result = refresh(src, ws)
    assert result.copied == ["00_intro.ipynb", "01_more.ipynb"] and not result.newer
    assert "2 new lesson copies" in result.summary()
    mine = nbformat.read(ws / "00_intro.ipynb", as_version=4)
    assert NOTE_TAG in mine.cells[0].metadata.tags
    assert "solutions/00_intro.ipynb" in mine.cells[0].source and "notebooks/00_intro.ipynb" in mine.cells[0].source
    text = (ws / "00_intro.ipynb").read_text()
    assert "raise NotImplementedError" in text and "x = 2" not in text and "HIDDEN" not in text
    assert mine.cells[2].outputs[0].text == "42\n"  # the lesson keeps its outputs
    solution = (ws / "solutions" / "00_intro.ipynb").read_text()
    assert "x = 2" in solution and "Solutions" in nbformat.reads(solution, 4).cells[0].source
    assert set(json.loads((ws / MANIFEST).read_text())["lessons"]) == {"00_intro.ipynb", "01_more.ipynb"}


def test_second_run_keeps_the_learners_edit_and_changes_nothing(course):
    src, ws = course
    refresh(src, ws)
    mine = nbformat.read(ws / "00_intro.ipynb", as_version=4)
    mine.cells[3].source = "x = 2  # my answer"
    nbformat.write(mine, ws / "00_intro.ipynb")
    before = _snapshot(ws)
    result = refresh(src, ws)
    assert _snapshot(ws) == before
    assert result.summary() == ""
    assert "# my answer" in (ws / "00_intro.ipynb").read_text()


def test_upstream_change_is_reported_not_overwritten(course):
    src, ws = course
    refresh(src, ws)
    (ws / "00_intro.ipynb").write_text((ws / "00_intro.ipynb").read_text().replace("x = ...", "x = 2  # mine"))
    mine = (ws / "00_intro.ipynb").read_bytes()
    nbformat.write(_lesson(text="A lesson, corrected."), src / "00_intro.ipynb")
    nbformat.write(_lesson(), src / "02_new.ipynb")  # a lesson added upstream
    result = refresh(src, ws)
    assert (ws / "00_intro.ipynb").read_bytes() == mine  # never overwritten
    assert result.newer == ["00_intro.ipynb"] and result.copied == ["02_new.ipynb"]
    summary = result.summary("make lab UPDATE=NN")
    assert "00_intro.ipynb" in summary and "make lab UPDATE=00" in summary
    # the solution copy, which the learner did not edit, follows the course
    assert "corrected" in (ws / "solutions" / "00_intro.ipynb").read_text()
    # still reported on the next run, until the learner asks for it
    assert refresh(src, ws).newer == ["00_intro.ipynb"]
    result = refresh(src, ws, update=["00"])
    assert result.updated == [("00_intro.ipynb", "00_intro.mine-1.ipynb")] and not result.newer
    assert (ws / "00_intro.mine-1.ipynb").read_bytes() == mine  # the learner's work, renamed
    assert "corrected" in (ws / "00_intro.ipynb").read_text()
    assert "00_intro.mine-1.ipynb" in result.summary()
    assert refresh(src, ws).summary() == ""


def test_update_all_and_numbering_of_kept_copies(course):
    src, ws = course
    refresh(src, ws)
    for k in (1, 2):
        for name in ("00_intro.ipynb", "01_more.ipynb"):
            nbformat.write(_lesson(text=f"version {k}"), src / name)
        result = refresh(src, ws, update=["all"])
        assert [u[1] for u in result.updated] == [f"00_intro.mine-{k}.ipynb", f"01_more.mine-{k}.ipynb"]
    with pytest.raises(ValueError, match="no course notebook called '07'"):
        refresh(src, ws, update=["07"])
    nbformat.write(_lesson(text="version 3"), src / "01_more.ipynb")
    assert refresh(src, ws, update=["01_more.ipynb"]).updated == [("01_more.ipynb", "01_more.mine-3.ipynb")]


def test_edited_solution_copy_is_kept_and_deleted_copies_come_back(course):
    src, ws = course
    refresh(src, ws)
    sol = ws / "solutions" / "01_more.ipynb"
    sol.write_text(sol.read_text().replace("x = 2", "x = 2  # my notes"))
    nbformat.write(_lesson(answer="x = 1 + 1"), src / "01_more.ipynb")
    result = refresh(src, ws)
    assert "# my notes" in sol.read_text() and result.solutions_kept == ["01_more.ipynb"]
    assert "solutions/01_more.ipynb was edited" in result.summary()
    (ws / "00_intro.ipynb").unlink()
    assert refresh(src, ws).copied == ["00_intro.ipynb"]


def test_a_copy_of_unknown_origin_is_kept(course):
    src, ws = course
    ws.mkdir()
    (ws / "00_intro.ipynb").write_text("my own file")
    result = refresh(src, ws)
    assert (ws / "00_intro.ipynb").read_text() == "my own file" and result.copied == ["01_more.ipynb"]


def test_empty_course_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no course notebooks"):
        refresh(tmp_path, tmp_path / "ws")


def test_progress_bar_outputs_are_dropped_warnings_kept():
    cell = new_code_cell("fit(...)", outputs=[
        new_output("stream", name="stderr", text="\repoch 1/2:   0%|          | 0/469 [00:00<?, ?it/s]"),
        new_output("stream", name="stdout", text="epoch 1/2: train loss 0.2\n"),
        new_output("stream", name="stderr", text="\r                                            \r"),
        new_output("stream", name="stderr", text="UserWarning: something to act on\n"),
    ])
    nb = without_progress_bars(new_notebook(cells=[cell, new_markdown_cell("text")]))
    assert [o.get("text") for o in nb.cells[0].outputs] == ["epoch 1/2: train loss 0.2\n",
                                                             "UserWarning: something to act on\n"]


def test_real_course_notebook(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    shutil.copy(SOURCE_DIR / "00_setup_and_tour.ipynb", src)
    refresh(src, tmp_path / "ws")
    mine = nbformat.read(tmp_path / "ws" / "00_setup_and_tour.ipynb", as_version=4)
    nbformat.validate(mine)
    assert "BEGIN SOLUTION" not in nbformat.writes(mine) and "solutions/00_setup_and_tour.ipynb" in mine.cells[0].source
    solution = nbformat.read(tmp_path / "ws" / "solutions" / "00_setup_and_tour.ipynb", as_version=4)
    assert "BEGIN SOLUTION" in nbformat.writes(solution)


def test_figures_come_along_for_the_copies_and_the_solutions(course):
    src, ws = course
    (src / "figures").mkdir()
    (src / "figures" / "block.svg").write_text("<svg/>")
    refresh(src, ws)
    assert (ws / "figures" / "block.svg").read_text() == "<svg/>"
    assert (ws / "solutions" / "figures" / "block.svg").read_text() == "<svg/>"
    (src / "figures" / "block.svg").write_text("<svg>new</svg>")  # a regenerated diagram replaces the old one
    refresh(src, ws)
    assert (ws / "figures" / "block.svg").read_text() == "<svg>new</svg>"

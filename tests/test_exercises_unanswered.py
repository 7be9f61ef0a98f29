"""No compute exercise is answered above it.

Each ``tests/test_checks_<topic>.py`` may define ``EXERCISE_ANSWERS = {"NN_topic.ipynb":
{"<grade_id>": ["663936", ...]}}``: the right values of the exercise whose solution cell
has that nbgrader ``grade_id``. None of them may occur in any cell (source or stored
output) above that solution cell, so the learner has to work them out.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from test_checks_no_leak import TESTS, _test_module, leaks

NOTEBOOKS = TESTS.parent / "notebooks"


def _answers() -> list[tuple[str, str, str, list[str]]]:
    rows = []
    for path in sorted(TESTS.glob("test_checks_*.py")):
        for nb_name, by_id in getattr(_test_module(path), "EXERCISE_ANSWERS", {}).items():
            for grade_id, values in by_id.items():
                rows.append((path.stem, nb_name, grade_id, list(values)))
    return rows


def _text(cell) -> str:
    parts = [cell.source]
    for out in cell.get("outputs", []):
        parts.append(out.get("text", "") if isinstance(out.get("text", ""), str) else "".join(out["text"]))
        data = out.get("data", {})
        for kind in ("text/plain", "text/markdown", "text/html", "text/latex"):
            if kind in data:
                v = data[kind]
                parts.append(v if isinstance(v, str) else "".join(v))
        parts.append(out.get("evalue", ""))
    return "\n".join(parts)


ROWS = _answers()


@pytest.mark.parametrize("where, nb_name, grade_id, values", ROWS,
                         ids=[f"{r[1][:2]}:{r[2]}" for r in ROWS])
def test_exercise_answer_does_not_occur_above_it(where, nb_name, grade_id, values):
    nb = nbformat.read(NOTEBOOKS / nb_name, as_version=4)
    ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert grade_id in ids, f"{nb_name} has no cell with grade_id {grade_id!r} (listed in {where})"
    above = nb.cells[:ids.index(grade_id)]
    for i, cell in enumerate(above):
        text = _text(cell)
        for value in values:
            assert not leaks(text, value), f"{nb_name} cell {i} shows {value!r}, the answer to {grade_id}"


def test_answers_are_listed_for_the_course():
    # grows with the course; a module that lists none is fine, none at all is not
    assert len({r[1] for r in ROWS}) >= 5, "EXERCISE_ANSWERS lists fewer than 5 notebooks"

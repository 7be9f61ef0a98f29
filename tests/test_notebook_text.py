"""Notebook text renders as written: no control characters in markdown cells.

A LaTeX command written in a Python string without escaping (``"\\text"``) reaches the
notebook as a TAB followed by ``ext``; ``\\b``, ``\\f``, ``\\v``, ``\\a`` do the same to
``\\beta``, ``\\frac``, ``\\vec``, ``\\alpha``. A real tab has no place in course prose either.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def control_characters(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for m in CONTROL.finditer(cell.source):
            found.append(f"cell {i}: {m.group()!r} before {cell.source[m.end():m.end() + 12]!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_has_no_control_characters(path):
    assert control_characters(nbformat.read(path, as_version=4)) == []


def test_the_detector():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$\text{out}$ and \x08eta"),
                                         nbformat.v4.new_markdown_cell("fine\nlines")])
    found = control_characters(nb)
    assert len(found) == 2 and all(f.startswith("cell 0:") for f in found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_widget_state(path):
    # tools/build_notebook.py drops it; a deck with widget state loads scripts from a CDN
    assert "widgets" not in nbformat.read(path, as_version=4).metadata

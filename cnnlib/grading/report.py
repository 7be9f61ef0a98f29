"""What grading writes: ``grades.csv``, one markdown feedback file per submission, and the
notebook as it ran."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable

import nbformat
from nbformat import NotebookNode

from .autograde import MANUAL, Grade, NotebookResult

COLUMNS = ["student", "notebook", "grade_id", "points", "max_points", "status", "message"]


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


def _text(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula (``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return, OWASP's list) gets a leading apostrophe."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(grades: Iterable[Grade], path: Path) -> None:
    """One row per student, notebook and graded cell; ``points`` is empty where a person grades.

    Written to a temporary file and renamed, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for g in grades:
            w.writerow([_text(g.student), _text(g.notebook), _text(g.grade_id), _num(g.points), _num(g.max_points),
                        _text(g.status), _text(g.message)])
    tmp.replace(path)


def _fence(text: str) -> str:
    text = text.replace("```", "'''")
    return f"```text\n{text}\n```"


def feedback_markdown(result: NotebookResult) -> str:
    """A learner's feedback: each exercise with its points, status and the check's message."""
    auto = [g for g in result.grades if not g.manual]
    manual = [g for g in result.grades if g.manual]
    lines = [f"# Feedback on {result.notebook} ({result.student})", ""]
    total = f"Automatically graded: **{_num(sum(g.points or 0 for g in auto))} / {_num(sum(g.max_points for g in auto))}** points."
    if manual:
        pending = [g for g in manual if g.status == MANUAL]
        total += (f" Graded by hand: {_num(sum(g.max_points for g in manual))} points"
                  f" ({len(pending)} of {len(manual)} answer(s) waiting for a grader).")
    lines += [total, ""]
    if result.note:
        lines += [f"**Note:** {result.note}.", ""]
    for g in result.grades:
        lines += [f"## {g.title or g.grade_id}", "", f"`{g.grade_id}`: **{_num(g.points) if g.points is not None else '?'}"
                  f" / {_num(g.max_points)}** - {g.status}", ""]
        if g.message:
            lines += [_fence(g.message), ""]
        if g.answer:
            lines += ["Your answer:", ""] + [f"> {ln}" for ln in g.answer.splitlines()] + [""]
    return "\n".join(lines)


def write_feedback(result: NotebookResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_markdown(result), encoding="utf-8")


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """The submission as it was graded (restored cells, outputs of the grading run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path, version=nbformat.NO_CONVERT)

"""Grade submitted notebooks with nbgrader's preprocessors and a temporary gradebook.

The flow is that of ``nbgrader autograde``, one notebook at a time so that one broken
submission cannot stop the others:

1. the source notebooks' grader versions go into a temporary nbgrader gradebook
   (``SaveCells``), as ``nbgrader generate_assignment`` would do;
2. each submission is sanitized: ``ClearOutput``, ``DeduplicateIds`` (a duplicated
   exercise cell: the last copy counts),
   ``OverwriteKernelspec``, ``OverwriteCells`` (locked cells - task text, check cells with
   their hidden tests - restored from the source by grade_id; deleted grade cells put
   back), ``CheckCellMetadata``;
3. it runs in its own fresh kernel under nbgrader's ``Execute`` (per-cell time limit, the
   kernel is interrupted on timeout and the run goes on; a time limit for the whole
   notebook; a lesson cell too slow for the limit is retried once with twice the limit and
   then reported as "grader error", never as the student's zero), then ``IgnorePattern``
   (Python warnings on stderr cost no points) and ``LimitOutputSize`` (lines and characters);
4. each grade cell is scored with ``nbgrader.utils.determine_grade``: a check cell with an
   error scores 0, one without gets its points; explain answers need grading by hand;
5. a check cell that passed in the student's kernel is decided once more outside it
   (:mod:`cnnlib.grading.replay`): a follow-up cell sends the answers back as plain data, and
   a trusted process runs the real check on them; the cell keeps its points only if that
   passes too. A solution cell that uses the course's reference code (``cnnlib.ops``,
   ``cnnlib.checks``, ``cnnlib.kernels``) is flagged in the feedback, not zeroed.

A kernel that dies (``os._exit``, a segfault) or stops answering (an interrupt that does
not stop it) ends that notebook's run: the cells that ran are graded, the rest score 0 as
"not run", and grading goes on with the next notebook.
"""
from __future__ import annotations

import copy
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveCells,
)
from traitlets import Integer, List, Unicode
from traitlets.config import Config
import zmq

from . import replay
from .release import ROOT, SOURCE_DIR, RefuseOverwrite, grader_version, numbered_notebooks
from .sandbox import DEFAULT_MAX_PROCESSES, DEFAULT_MEMORY_GB, Sandbox, prepare_datasets, remove_tree

ASSIGNMENT = "course"
DEFAULT_TIMEOUT = 60
DEFAULT_NOTEBOOK_TIMEOUT = 900  # seconds for a whole notebook
# Under nbgrader's rule "output on stderr fails a check", Python warnings ("UserWarning:
# ...") and progress bars (" 45%|####") would cost a passing check its points;
# IgnorePattern drops such stderr output first.
STDERR_IGNORED = r"\w*Warning: |\d+%\|"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

PASSED, FAILED, ERROR, TIMEOUT = "passed", "failed", "error", "timeout"
PARTIAL, UNANSWERED, MANUAL = "partial", "unanswered", "needs manual grading"
GRADER_ERROR = "grader error"
CRASHED, NOT_RUN, MISSING, UNREADABLE = "crashed", "not run", "missing", "unreadable"


@dataclass(frozen=True)
class Exercise:
    """One graded cell of a source notebook and the solution cells it checks."""

    grade_id: str
    title: str
    max_points: float
    manual: bool
    solutions: tuple[str, ...]


@dataclass
class Grade:
    """One row of ``grades.csv``; ``answer`` (explain answers) goes to the feedback only."""

    student: str
    notebook: str
    grade_id: str
    points: float | None
    max_points: float
    status: str
    message: str = ""
    title: str = ""
    answer: str = ""
    manual: bool = False


@dataclass
class NotebookResult:
    """The grades of one submitted notebook and the notebook as it ran."""

    student: str
    notebook: str
    grades: list[Grade]
    executed: NotebookNode | None = None
    note: str = ""
    seconds: float = 0.0


class LimitOutputSize(LimitOutput):
    """nbgrader's ``LimitOutput`` (lines) plus a cap on characters: one long line (a 10 MB
    print) is cut too, and so is any rich output (HTML, images) larger than ``max_chars``."""

    max_chars = Integer(20_000, help="characters kept of each output's text").tag(config=True)

    def _cut(self, text: str) -> str:
        return text if len(text) <= self.max_chars else text[: self.max_chars] + "\n... Output truncated ..."

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        cell, resources = super().preprocess_cell(cell, resources, index)
        for out in cell.get("outputs", []):
            if "text" in out:
                out.text = self._cut("".join(out.text) if isinstance(out.text, list) else out.text)
            for mime in list(out.get("data", {})):
                value = out.data[mime]
                text = "".join(value) if isinstance(value, list) else value
                if isinstance(text, str) and len(text) > self.max_chars:
                    if mime == "text/plain":
                        out.data[mime] = self._cut(text)
                    else:
                        del out.data[mime]
                        out.data.setdefault("text/plain", f"[{mime} output of {len(text)} characters removed by the grader]")
        return cell, resources


def exercises(nb: NotebookNode) -> list[Exercise]:
    """The graded cells of ``nb`` in order, each with its title and solution cells.

    The title is the last ``### Exercise ...`` heading above the cell; the solution
    cells are those between the previous graded cell and this one.
    """
    found, title, solutions = [], "", []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("### "):
                    title = line[4:].strip()
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            solutions.append(meta["grade_id"])
        if meta.get("grade"):
            manual = cell.cell_type == "markdown"
            found.append(Exercise(meta["grade_id"], title, float(meta["points"]), manual, tuple(solutions)))
            solutions = []
    return found


class RestoreCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` with ``add_missing_cells``, placing a deleted grade
    cell after the nearest earlier exercise cell that the submission still has.

    nbgrader 0.9.6 looks only at the source cell just before the missing one and raises
    ``KeyError`` when that cell is gone too or is a locked text cell - e.g. for every
    deleted explain answer, which follows its task text. The re-added cell itself is
    nbgrader's (``missing_cell_transform``).
    """

    order = List(Unicode(), help="grade_ids of the source notebook, in cell order").tag(config=True)

    def add_missing_grade_cells(self, nb: NotebookNode, resources: dict):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        sources = {c.name: c for c in source_nb.source_cells}
        grade_cells = {c.name: c for c in source_nb.grade_cells}
        solutions = {c.name for c in source_nb.solution_cells}
        for k, grade_id in enumerate(self.order):
            present = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
            if grade_id not in grade_cells or grade_id in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_id)
            earlier = [present[g] for g in self.order[:k] if g in present]
            later = [i for g, i in present.items() if g in sources]
            where = max(earlier) + 1 if earlier else min(later, default=len(nb.cells))
            cell = self.missing_cell_transform(sources[grade_id], grade_cells[grade_id].max_score,
                                               is_solution=grade_id in solutions)
            if nb.get("nbformat_minor", 0) >= 5:
                cell["id"] = uuid.uuid4().hex[:12]  # nbformat 4.5 wants cell ids; nbgrader sets none
            nb.cells.insert(where, cell)
        return nb, resources


class Course:
    """The source notebooks, registered in a temporary nbgrader gradebook.

    Use as a context manager; the gradebook is deleted on exit.
    """

    def __init__(self, sources: Sequence[Path]):
        self._tmp = tempfile.TemporaryDirectory(prefix="cnnlib-grading-")
        self.db_url = f"sqlite:///{Path(self._tmp.name) / 'gradebook.db'}"
        self.paths = {Path(p).stem: Path(p) for p in sources}
        self.versions: dict[str, NotebookNode] = {}
        self.exercises: dict[str, list[Exercise]] = {}
        self.check_calls: dict[str, dict[str, list[replay.CheckCall]]] = {}
        self.reference_rules: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        # A new gradebook stamps its schema version by running ``alembic heads`` (seconds
        # of start-up, and it needs the venv on PATH). This gradebook lives for one run and
        # is never migrated: creating the (empty) stamp table first makes nbgrader skip it.
        with closing(sqlite3.connect(Path(self._tmp.name) / "gradebook.db")) as db:
            db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            db.commit()
        with Gradebook(self.db_url) as gb:
            gb.update_or_create_assignment(ASSIGNMENT)
        for name, path in self.paths.items():
            nb = grader_version(nbformat.read(path, as_version=4))
            SaveCells().preprocess(nb, self.resources(name))
            self.versions[name] = nb
            self.exercises[name] = exercises(nb)
            self.check_calls[name], self.reference_rules[name] = {}, {}
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade") and cell.cell_type == "code":
                    self.check_calls[name][meta["grade_id"]] = replay.check_calls(cell.source)
                if meta.get("solution") and cell.cell_type == "code":
                    # the source's (never the submission's) metadata may change what counts as
                    # the reference: {"cnnlib": {"reference": {"allowed": [...], "forbidden": [...]}}}
                    rule = cell.metadata.get("cnnlib", {}).get("reference", {})
                    self.reference_rules[name][meta["grade_id"]] = (
                        tuple(replay.REFERENCE_MODULES) + tuple(rule.get("forbidden", ())), tuple(rule.get("allowed", ())))

    def resources(self, notebook: str, student: str = "") -> dict:
        return {
            "nbgrader": {"notebook": notebook, "assignment": ASSIGNMENT, "db_url": self.db_url, "student": student},
            "metadata": {"path": str(self.paths[notebook].parent)},
        }

    def order(self, notebook: str) -> list[str]:
        return [c.metadata.nbgrader["grade_id"] for c in self.versions[notebook].cells if "nbgrader" in c.metadata]

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> "Course":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DropEmptyMetadata(DeduplicateIds):
    """nbgrader's ``DeduplicateIds`` (a copied exercise cell keeps its grade_id: the last
    copy keeps it, the earlier ones become plain cells), without the empty ``nbgrader``
    metadata it leaves on them, which the later preprocessors cannot read."""

    def preprocess(self, nb: NotebookNode, resources: dict):
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", None) == {}:
                del cell.metadata["nbgrader"]
        return nb, resources


def _grade_ids(nb: NotebookNode) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if "grade_id" in c.get("metadata", {}).get("nbgrader", {})}


def _first_line(cell: NotebookNode) -> str:
    lines = [ln for ln in cell.source.splitlines() if ln.strip()]
    return lines[0].strip() if lines else ""


def _errors(cell: NotebookNode) -> list[NotebookNode]:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def _error_message(error: NotebookNode) -> str:
    """``CheckFailed``'s message as it is; other errors as ``Name: message``, and for an
    error without a message (a bare ``assert``) the line that raised it."""
    name = error.get("ename", "")
    value = ANSI.sub("", str(error.get("evalue", ""))).strip()
    if name == "CheckFailed" and value:
        return value
    if not value:
        lines = [ANSI.sub("", ln) for tb in error.get("traceback", []) for ln in tb.splitlines()]
        raised = [ln.split("---->", 1)[1].strip() for ln in lines if "---->" in ln]
        return f"{name} in `{raised[-1].lstrip('0123456789 ')}`" if raised else name
    return f"{name}: {value}"


def _unchanged(cell: NotebookNode | None) -> bool:
    """A solution cell still holding its stub (nbgrader's "No response." test)."""
    meta = cell.metadata.get("nbgrader", {}) if cell is not None else {}
    return "checksum" in meta and meta["checksum"] == utils.compute_checksum(cell)


def kernel_config(curve: bool | None = None) -> Config:
    """Kernel manager settings for grading runs: CurveZMQ transport encryption where pyzmq
    supports it (``curve`` None: ask pyzmq). The kernel then no longer warns "Kernel is running
    over TCP without encryption" on every submission (and nothing travels in plain text)."""
    cfg = Config()
    if zmq.has("curve") if curve is None else curve:
        cfg.KernelManager.transport_encryption = "auto"
    return cfg


class _NotebookTimeLimit(Exception):
    """The whole-notebook time limit passed before a cell started."""


def execute(nb: NotebookNode, resources: dict, timeout: int = DEFAULT_TIMEOUT,
            notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT, sandbox: Sandbox | None = None) -> tuple[int, str]:
    """Run ``nb`` in place in a fresh kernel with nbgrader's ``Execute``.

    ``timeout`` limits each cell (the kernel is interrupted and the run goes on);
    ``notebook_timeout`` the whole notebook (no cell starts after it has passed). With an
    enabled ``sandbox`` the kernel runs inside it, in a scratch folder removed afterwards.
    Returns ``(stopped_at, note)``: ``stopped_at`` is the index of the cell during which
    the run ended early (the kernel died or stopped answering, or the notebook's time
    was up), or ``len(nb.cells)`` when every cell ran; ``note`` says what happened.
    """
    started = [-1]
    t0 = time.perf_counter()

    def on_cell_start(cell: NotebookNode, cell_index: int) -> None:
        started[0] = cell_index
        if time.perf_counter() - t0 > notebook_timeout:
            raise _NotebookTimeLimit()

    kwargs: dict = {"config": kernel_config()}  # TCP kernels: encrypted where pyzmq can
    scratch = None
    if sandbox is not None and sandbox.enabled:  # no TCP at all: Unix sockets in the scratch folder
        kwargs = {}
        scratch = sandbox.scratch()
        kwargs["kernel_manager_class"] = sandbox.kernel_manager_class(scratch)
        resources = {**resources, "metadata": {**resources.get("metadata", {}), "path": str(scratch)}}
    executor = Execute(timeout=int(timeout), interrupt_on_timeout=True, allow_errors=True,
                       extra_arguments=["--HistoryManager.hist_file=:memory:"],
                       on_cell_start=on_cell_start, **kwargs)
    previous = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        executor.preprocess(nb, resources)
        return len(nb.cells), ""
    except _NotebookTimeLimit:
        what = f"the notebook's time limit ({notebook_timeout:g} s in all) passed"
    except DeadKernelError:
        what = "the kernel died"
    except CellTimeoutError:  # no answer even after the interrupt (e.g. SIGINT ignored)
        what = f"the kernel stopped responding (the {timeout} s limit per cell passed and an interrupt did not stop it)"
    except Exception as exc:  # anything else that ends a run: report it, grade what ran
        what = f"the run stopped ({type(exc).__name__}: {exc})"
    finally:
        if previous is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = previous
        if scratch is not None:
            remove_tree(scratch)
    at = started[0]
    if at < 0:
        return 0, f"{what} while starting the kernel; no cell ran"
    number = sum(1 for c in nb.cells[:at] if REPLAY_KEY not in c.get("metadata", {}))
    if REPLAY_KEY in nb.cells[at].get("metadata", {}):
        return at, f"{what} while the grader re-checked cell {number}; the cells after it did not run"
    return at, f"{what} while running cell {number + 1} (`{_first_line(nb.cells[at])}`); the cells after it did not run"


REPLAY_KEY = "cnnlib_replay"  # metadata of the grader's follow-up cells (a random token per run)
TIMED_OUT = "timed out"  # a follow-up cell that hit the per-cell limit


def _add_recorders(nb: NotebookNode, calls: dict[str, list[replay.CheckCall]]) -> str:
    """Insert after each check cell with ``check_*`` calls the follow-up cell that sends its
    answers back as plain data; returns the run's token that marks these cells. Cells of the
    submission that carry the marker (a forgery) lose it first."""
    token = uuid.uuid4().hex
    for cell in nb.cells:
        cell.get("metadata", {}).pop(REPLAY_KEY, None)
    for i in reversed(range(len(nb.cells))):
        grade_id = nb.cells[i].get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if nb.cells[i].cell_type == "code" and calls.get(grade_id):
            cell = nbformat.v4.new_code_cell(replay.recorder_source(calls[grade_id]),
                                             metadata={REPLAY_KEY: {"token": token, "grade_id": grade_id}})
            if nb.get("nbformat_minor", 0) < 5:
                cell.pop("id", None)
            nb.cells.insert(i + 1, cell)
    return token


def _take_recorders(nb: NotebookNode, token: str, stopped_at: int) -> tuple[dict[str, Any], int]:
    """Remove the follow-up cells again; ``({grade_id: what it sent}, stopped_at)`` with
    ``stopped_at`` counted in the cells that remain."""
    sent, kept, stop = {}, [], stopped_at
    for i, cell in enumerate(nb.cells):
        mark = cell.get("metadata", {}).get(REPLAY_KEY)
        if isinstance(mark, dict) and mark.get("token") == token:
            sent[mark["grade_id"]] = TIMED_OUT if _timed_out(cell) else replay.payload(cell)
            if i < stopped_at:
                stop -= 1
        else:
            kept.append(cell)
    nb.cells = kept
    return sent, stop


def _slow_lesson_cell(nb: NotebookNode, lesson: set[str]) -> int | None:
    """Index of the first lesson cell that hit the per-cell limit: a cell without exercise
    metadata whose code is that of a cell of the source notebook (``lesson``), so that a
    slow cell the student wrote is never taken for the machine's fault."""
    for i, cell in enumerate(nb.cells):
        if (cell.cell_type == "code" and "nbgrader" not in cell.get("metadata", {})
                and cell.source in lesson and _timed_out(cell)):
            return i
    return None


@dataclass
class _Run:
    """A submission after its run: its graded cells by grade_id and where the run stopped."""

    nb: NotebookNode
    submitted: set[str]
    stopped_at: int
    note: str
    timeout: int
    slow_lesson: int | None = None  # a lesson cell that hit the per-cell limit, retried
    trusted: dict[str, tuple[bool | None, str]] = field(default_factory=dict)  # grade_id: trusted re-run

    def __post_init__(self) -> None:
        self.index = {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(self.nb.cells)
                      if "grade_id" in c.metadata.get("nbgrader", {})}

    def cell(self, grade_id: str) -> NotebookNode | None:
        return self.nb.cells[self.index[grade_id]] if grade_id in self.index else None


def _timed_out(cell: NotebookNode | None) -> bool:
    return cell is not None and any(e.get("ename") == "CellTimeoutError" for e in _errors(cell))


def _score(ex: Exercise, run: _Run) -> tuple[float | None, str, str]:
    """(points, status, message) of one graded cell after the run."""
    cell = run.cell(ex.grade_id)
    if ex.manual:
        if ex.grade_id not in run.submitted or cell is None:
            return 0.0, UNANSWERED, "the answer cell was deleted"
        if _unchanged(cell):
            return 0.0, UNANSWERED, "no answer written"
        return None, MANUAL, ""
    if cell is None:
        return 0.0, ERROR, "the check cell is missing and could not be restored"
    i = run.index[ex.grade_id]
    if run.slow_lesson is not None and i > run.slow_lesson:
        slow = run.nb.cells[run.slow_lesson]
        return None, GRADER_ERROR, (
            f"lesson cell {run.slow_lesson + 1} (`{_first_line(slow)}`), which is not the student's, did not "
            f"finish within the {run.timeout} s limit per cell (also when retried): this machine was too slow "
            f"or too busy. Regrade with a larger limit (make grade TIMEOUT=...)")
    if i >= run.stopped_at:
        return 0.0, (CRASHED if i == run.stopped_at else NOT_RUN), run.note
    try:
        points, _ = utils.determine_grade(cell)
    except ValueError as exc:  # e.g. an output claiming more points than the cell is worth
        return 0.0, ERROR, f"the check cell's output could not be graded ({exc}); was it tampered with?"
    errors = _errors(cell)
    verdict, why = run.trusted.get(ex.grade_id, (None, ""))
    if not errors and points and verdict is False:
        return 0.0, FAILED, f"the grader ran this check again outside your kernel, on your answers, and it failed: {why}"
    if not errors and points and verdict == GRADER_ERROR:
        return None, GRADER_ERROR, f"the grader could not re-run this check outside the kernel ({why}): regrade"
    if not errors and points == ex.max_points:
        return points, PASSED, ""
    message = _error_message(errors[0]) if errors else "".join(
        o.get("text", "") for o in cell.outputs if o.get("name") == "stderr").strip()
    deleted = [s for s in ex.solutions if s not in run.submitted]
    solutions = [run.cell(s) for s in ex.solutions if s not in deleted]
    if deleted:
        return points, UNANSWERED, f"the solution cell was deleted ({', '.join(deleted)}); the check says: {message}"
    if any(_unchanged(c) for c in solutions):
        return points, UNANSWERED, message
    if _timed_out(cell) or any(_timed_out(c) for c in solutions):
        where = "the check (calling your code)" if _timed_out(cell) else "your solution cell"
        return points, TIMEOUT, f"{where} did not finish within the {run.timeout} s limit per cell: is there an endless loop?"
    if not errors:
        return points, PARTIAL if points else FAILED, message
    name = errors[0].get("ename", "")
    if name == "NotImplementedError" or "not implemented" in message:
        return points, UNANSWERED, message
    raised = [_error_message(e) for c in solutions if c is not None for e in _errors(c)]
    if raised:
        message = f"your solution cell raised {raised[0]}; the check then failed with: {message}"
    return points, (FAILED if name in ("CheckFailed", "AssertionError") else ERROR), message


def _trusted_verdicts(run: _Run, exs: list[Exercise], calls: dict[str, list[replay.CheckCall]],
                      sent: dict[str, Any], checker: replay.TrustedChecker | None, sandbox: Sandbox | None,
                      timeout: int) -> dict[str, tuple[bool | None | str, str]]:
    """``{grade_id: (verdict, message)}`` of the trusted re-run for every check cell that
    passed in the kernel and has ``check_*`` calls: ``True``, ``False`` (with the check's
    message), ``None`` (not re-verifiable: a class argument) or ``GRADER_ERROR``."""
    items, owners = [], []
    verdicts_early: dict[str, tuple[bool | None | str, str]] = {}
    for ex in exs:
        cell = run.cell(ex.grade_id)
        if ex.manual or not calls.get(ex.grade_id) or cell is None or _errors(cell):
            continue
        if run.index[ex.grade_id] >= run.stopped_at:
            continue
        got = sent.get(ex.grade_id)
        if got == TIMED_OUT:  # no points given or taken (the student's code may be slow on purpose)
            verdicts_early[ex.grade_id] = (GRADER_ERROR, (
                f"the grader's follow-up cell, which sends your answers out of the kernel, did not finish within the "
                f"{run.timeout} s limit per cell: regrade with a larger limit (make grade TIMEOUT=...)"))
            continue
        for k, call in enumerate(calls[ex.grade_id]):
            items.append((call, got[k] if isinstance(got, list) and k < len(got) else None))
            owners.append(ex.grade_id)
    if not items:
        return verdicts_early
    for k, (call, got) in enumerate(items):  # no more than a check's inputs and outputs need
        if got is not None and len(json.dumps(got)) > replay.MAX_PAYLOAD:
            items[k] = (call, {"error": "the answers your kernel sent back are too large to be checked"})
    own = checker is None
    if own:
        checker = replay.TrustedChecker(sandbox.lib if sandbox is not None and sandbox.enabled else None)
    checker.timeout = 60.0 + timeout * len(items)
    try:
        answers = checker.verify(items)
    except RuntimeError as exc:
        return {**verdicts_early, **{g: (GRADER_ERROR, str(exc)) for g in owners}}
    finally:
        if own:
            checker.close()
    per_cell: dict[str, list[tuple[bool | None | str, str]]] = {}
    for grade_id, (_, got), (ok, message) in zip(owners, items, answers):
        if got is None:
            ok, message = False, ("the check's answers did not come back from your kernel: was the check cell, or the "
                                  "cell the grader runs after it, changed (e.g. by an input transformer)?")
        per_cell.setdefault(grade_id, []).append((ok, message))
    verdicts = dict(verdicts_early)
    for grade_id, results in per_cell.items():
        failed = [m for ok, m in results if ok is False]
        broken = [m for ok, m in results if ok == replay.GRADER_ERROR_MARK]
        if failed:
            verdicts[grade_id] = (False, failed[0])
        elif broken:
            verdicts[grade_id] = (GRADER_ERROR, broken[0])
        elif all(ok is None for ok, _ in results):  # e.g. a class argument: the kernel's verdict stands
            verdicts[grade_id] = (None, results[0][1])
        else:
            verdicts[grade_id] = (True, "")
    return verdicts


def _reference_flags(ex: Exercise, run: _Run, rules: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> list[str]:
    """The reference modules (or functions) the exercise's solution cells use."""
    found: list[str] = []
    for grade_id in ex.solutions:
        cell = run.cell(grade_id)
        if cell is None or cell.cell_type != "code" or _unchanged(cell):
            continue
        forbidden, allowed = rules.get(grade_id, (replay.REFERENCE_MODULES, ()))
        found += [f for f in replay.reference_use(cell.source, forbidden, allowed) if f not in found]
    return found


def grade_notebook(path: Path, student: str, course: Course, notebook: str | None = None,
                   timeout: int = DEFAULT_TIMEOUT,
                   notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT,
                   sandbox: Sandbox | None = None,
                   checker: replay.TrustedChecker | None = None) -> NotebookResult:
    """Grade one submitted notebook against the course's source notebook of the same name.

    The check cells that passed are run once more by ``checker`` (a trusted process, see
    :mod:`cnnlib.grading.replay`; one is started for this notebook if none is given).

    A lesson cell (not an exercise) that hits the per-cell limit is the machine's fault,
    not the student's: the notebook is run once more with twice the limit, and if that
    cell is still too slow, the exercises after it are reported as "grader error" (no
    points given or taken) instead of a zero.
    """
    notebook = notebook or Path(path).stem
    exs = course.exercises[notebook]
    start = time.perf_counter()
    resources = course.resources(notebook, student)
    try:
        nb = nbformat.read(path, as_version=4)
        submitted = _grade_ids(nb)
        for pp in (ClearOutput(), DropEmptyMetadata(), OverwriteKernelspec(),
                   RestoreCells(add_missing_cells=True, order=course.order(notebook)), CheckCellMetadata()):
            nb, resources = pp.preprocess(nb, resources)
    except Exception as exc:
        message = f"the notebook could not be read ({type(exc).__name__}: {exc})"
        grades = [Grade(student, notebook, e.grade_id, 0.0, e.max_points, UNREADABLE, message, e.title, manual=e.manual)
                  for e in exs]
        return NotebookResult(student, notebook, grades, None, message, time.perf_counter() - start)

    calls = course.check_calls.get(notebook, {})
    token = _add_recorders(nb, calls)
    fresh = copy.deepcopy(nb)
    lesson = {c.source for c in course.versions[notebook].cells
              if c.cell_type == "code" and "nbgrader" not in c.get("metadata", {})}
    stopped_at, note = execute(nb, resources, timeout, notebook_timeout, sandbox)
    sent, stopped_at = _take_recorders(nb, token, stopped_at)
    slow = _slow_lesson_cell(nb, lesson)
    if slow is not None:  # the machine's fault, not the student's: once more, twice the limit
        timeout *= 2
        nb = copy.deepcopy(fresh)
        stopped_at, note = execute(nb, resources, timeout, notebook_timeout, sandbox)
        sent, stopped_at = _take_recorders(nb, token, stopped_at)
        slow = _slow_lesson_cell(nb, lesson)
    for pp in (IgnorePattern(pattern=STDERR_IGNORED, enabled=True), LimitOutputSize()):
        nb, resources = pp.preprocess(nb, resources)
    run = _Run(nb, submitted, stopped_at, note, timeout, slow)
    run.trusted = _trusted_verdicts(run, exs, calls, sent, checker, sandbox, timeout)
    grades = []
    rules = course.reference_rules.get(notebook, {})
    for ex in exs:
        points, status, message = _score(ex, run)
        flags = [] if ex.manual else _reference_flags(ex, run, rules)
        if flags:
            message = (f"flagged for the instructor: your solution uses {', '.join(flags)}, the course's reference "
                       f"code, instead of implementing it" + (f"; {message}" if message else ""))
        answer = run.cell(ex.grade_id).source if status == MANUAL else ""
        grades.append(Grade(student, notebook, ex.grade_id, points, ex.max_points, status, message, ex.title,
                            answer, ex.manual))
    return NotebookResult(student, notebook, grades, nb, note, time.perf_counter() - start)


def find_submissions(submissions: Path) -> dict[str, dict[str, Path]]:
    """``{student: {notebook name: path}}`` for the layout ``<dir>/<student>/<NN_topic>.ipynb``."""
    found = {}
    for folder in sorted(p for p in Path(submissions).iterdir() if p.is_dir()):
        if folder.name.startswith((".", "_")):
            continue
        found[folder.name] = {p.stem: p for p in sorted(folder.glob("*.ipynb"))}
    return found


def default_out(submissions: Path) -> Path:
    """``<submissions>-graded`` beside the submissions folder."""
    submissions = Path(submissions).resolve()
    return submissions.parent / f"{submissions.name}-graded"


def resolve_notebooks(names: Sequence[str], sources: dict[str, Path]) -> list[str]:
    """Notebook names from full stems or their ``NN`` prefixes."""
    chosen = []
    for name in names:
        stem = Path(name).stem
        match = [s for s in sources if s == stem or s.split("_", 1)[0] == stem]
        if not match:
            raise ValueError(f"no course notebook called {name!r}; known: {', '.join(sources)}")
        chosen += [m for m in match if m not in chosen]
    return chosen


@dataclass
class GradingRun:
    """Everything one ``grade`` call produced."""

    out: Path
    results: list[NotebookResult] = field(default_factory=list)

    @property
    def grades(self) -> list[Grade]:
        return [g for r in self.results for g in r.grades]


def _validate_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _inside(path: Path, folder: Path) -> bool:
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def grade(submissions: Path, out: Path | None = None, source_dir: Path = SOURCE_DIR,
          timeout: int = DEFAULT_TIMEOUT, force: bool = False,
          notebooks: Sequence[str] | None = None, log=sys.stdout,
          notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT, sandbox: str = "auto",
          memory_gb: float = DEFAULT_MEMORY_GB, max_processes: int = DEFAULT_MAX_PROCESSES) -> GradingRun:
    """Grade every ``<submissions>/<student>/<NN_topic>.ipynb``; write the CSV and feedback.

    Writes ``<out>/grades.csv``, ``<out>/feedback/<student>/<NN_topic>.md`` and the notebooks
    as they ran, ``<out>/autograded/<student>/<NN_topic>.ipynb``. ``out`` defaults to
    ``<submissions>-graded``; a non-empty ``out`` is refused unless ``force``. Graded are
    ``notebooks`` (names or ``NN`` prefixes) or else every course notebook that someone
    submitted; a student without one of them gets its rows as "missing". ``out`` may not
    be the submissions folder or inside it (a later run would grade the output as a
    student), nor the source folder. ``grades.csv`` is rewritten after every notebook, so
    a run that is killed keeps the grades it had.

    ``sandbox`` (``"auto"``, ``"require"`` or ``"off"``) runs each kernel in bubblewrap
    (see :mod:`cnnlib.grading.sandbox`) with at most ``memory_gb`` of memory per process and
    ``max_processes`` processes (threads included).
    """
    from .report import write_csv, write_feedback, write_notebook

    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder {submissions}")
    out = Path(out) if out else default_out(submissions)
    if _inside(out, submissions):
        raise ValueError(f"--out {out} is inside the submissions folder {submissions}: the next run would grade "
                         "its feedback/ and autograded/ folders as students; choose a folder beside it")
    if _inside(out, source_dir) or _inside(source_dir, out):
        raise ValueError(f"--out {out} overlaps the source notebooks' folder {source_dir}; choose another folder")
    if not _validate_int(timeout) or timeout < 1:
        raise ValueError(f"timeout must be a positive number of seconds per cell, got {timeout!r}")
    if out.exists() and any(out.iterdir()) and not force:
        raise RefuseOverwrite(f"{out} already holds files (grades.csv, feedback/ ...) that would be overwritten: "
                              f"choose another output folder (--out, make grade OUT=...) or pass --force (FORCE=1)")
    found = {s: f for s, f in find_submissions(submissions).items() if (submissions / s).resolve() != out.resolve()}
    if not found:
        raise FileNotFoundError(f"no student folders in {submissions} (expected {submissions}/<student>/<NN_topic>.ipynb)")
    sources = {p.stem: p for p in numbered_notebooks(source_dir)}
    submitted = sorted({name for files in found.values() for name in files})
    for name in submitted:
        if name not in sources:
            print(f"warning: {name}.ipynb is not a course notebook of {source_dir}; not graded", file=sys.stderr)
    names = resolve_notebooks(notebooks, sources) if notebooks else [n for n in submitted if n in sources]
    if not names:
        raise FileNotFoundError(f"no course notebooks among the submissions in {submissions}")

    run = GradingRun(out)
    out.mkdir(parents=True, exist_ok=True)
    from ..data import data_root

    box = Sandbox(sandbox, data_dir=data_root(), memory_gb=memory_gb, max_processes=max_processes,
                  hidden=(ROOT, Path(source_dir), submissions, out, Path.home()))
    if box.enabled:
        prepare_datasets(data_root())
    checker = replay.TrustedChecker(box.lib if box.enabled else None)
    with box, checker, Course([sources[n] for n in names]) as course:
        for student, files in found.items():
            for name in names:
                if name not in files:
                    grades = [Grade(student, name, e.grade_id, 0.0, e.max_points, MISSING, "not submitted",
                                    e.title, manual=e.manual) for e in course.exercises[name]]
                    run.results.append(NotebookResult(student, name, grades, note="not submitted"))
                    continue
                result = grade_notebook(files[name], student, course, name, timeout, notebook_timeout, box, checker)
                run.results.append(result)
                write_csv(run.grades, out / "grades.csv")  # after every notebook: a killed run keeps them
                write_feedback(result, out / "feedback" / student / f"{name}.md")
                if result.executed is not None:
                    write_notebook(result.executed, out / "autograded" / student / f"{name}.ipynb")
                auto = [g for g in result.grades if not g.manual]
                got = sum(g.points or 0 for g in auto)
                print(f"{student}/{name}: {got:g}/{sum(g.max_points for g in auto):g} auto-graded points"
                      f" ({result.seconds:.1f} s){'; ' + result.note if result.note else ''}", file=log)
    write_csv(run.grades, out / "grades.csv")
    print(f"grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}/<student>/", file=log)
    return run

"""Student versions of the course notebooks, made by nbgrader's own preprocessors.

A course notebook is the *source*: it holds the solutions (between ``### BEGIN SOLUTION``
and ``### END SOLUTION``), the hidden tests of the check cells (between ``### BEGIN HIDDEN
TESTS`` and ``### END HIDDEN TESTS``), the mark schemes of the explain answers (between
``=== BEGIN MARK SCHEME ===`` and ``=== END MARK SCHEME ===``) and all outputs. Two
versions are derived from it, in the order of ``nbgrader generate_assignment``:

- the *grader version* (what nbgrader's ``SaveCells`` stores in a gradebook): solutions
  replaced by stubs (``ClearSolutions``), outputs of the exercise cells cleared, nbgrader
  checksums computed; check cells keep their hidden tests;
- the *student version*: the grader version without hidden tests (``ClearHiddenTests``)
  and mark schemes (``ClearMarkScheme``), checksums recomputed, exercise cells made
  undeletable (``LockCells``). Outputs of the teaching cells are kept as taught.

Nothing here re-implements nbgrader; ``ClearExerciseOutput`` only narrows nbgrader's
``ClearOutput`` to the cells that carry nbgrader metadata.
"""
from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path
from typing import Iterable, Sequence

import nbformat
from nbformat import NotebookNode
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

NUMBERED = "[0-9][0-9]_*.ipynb"
ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "notebooks"


FIGURES = "figures"  # diagrams shown by markdown cells: ![...](figures/NAME.svg)


class RefuseOverwrite(FileExistsError):
    """A command would overwrite existing files and was not told to (``--force``)."""


class ClearExerciseOutput(ClearOutput):
    """nbgrader's ``ClearOutput`` for exercise cells only (cells with nbgrader metadata).

    The teaching cells keep their outputs (figures, tables); a check cell must not show
    the "all checks passed" line of the solution run.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if "nbgrader" in cell.get("metadata", {}):
            return super().preprocess_cell(cell, resources, index)
        return cell, resources


def numbered_notebooks(folder: Path = SOURCE_DIR) -> list[Path]:
    """The course notebooks ``NN_topic.ipynb`` of ``folder``, in teaching order."""
    return sorted(Path(folder).glob(NUMBERED))


def _apply(nb: NotebookNode, preprocessors: Iterable) -> NotebookNode:
    resources: dict = {}
    for pp in preprocessors:
        nb, resources = pp.preprocess(nb, resources)
    return nb


def grader_version(source: NotebookNode) -> NotebookNode:
    """Solutions replaced by nbgrader's stubs, hidden tests kept (a copy; ``source`` is unchanged).

    A code solution becomes ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (lines
    before and after the solution region stay, e.g. ``batch_shape = ...``); an explain
    answer becomes ``YOUR ANSWER HERE``.
    """
    return _apply(copy.deepcopy(source), [
        ClearSolutions(),
        ClearExerciseOutput(),
        CheckCellMetadata(),
        ComputeChecksums(),
    ])


def student_version(source: NotebookNode) -> NotebookNode:
    """What a learner gets: no solutions, hidden tests, mark schemes or exercise outputs."""
    return _apply(grader_version(source), [
        ClearHiddenTests(),
        # nbgrader expects mark schemes in "task" cells; here they sit in the explain
        # answer cell (replaced whole by ClearSolutions already) and are removed wherever
        # else they might be.
        ClearMarkScheme(enforce_metadata=False),
        ComputeChecksums(),
        LockCells(),
        CheckCellMetadata(),
    ])


def check_writable(paths: Sequence[Path], force: bool, how: str) -> None:
    """Raise :class:`RefuseOverwrite` if any of ``paths`` exists and ``force`` is off.

    ``how`` says how to proceed, e.g. "pass --force (make release FORCE=1)".
    """
    existing = [p for p in paths if Path(p).exists()]
    if existing and not force:
        what = f"{existing[0]} and {len(existing) - 1} more files already exist" if len(existing) > 1 \
            else f"{existing[0]} already exists"
        raise RefuseOverwrite(f"{what}: {how}")


def release(source_dir: Path = SOURCE_DIR, out_dir: Path = ROOT / "release", force: bool = False,
            notebooks: Sequence[Path] | None = None) -> list[Path]:
    """Write the student version of every numbered notebook of ``source_dir`` to ``out_dir``.

    Nothing is written if a target exists and ``force`` is off. Returns the written paths.
    """
    sources = list(notebooks) if notebooks else numbered_notebooks(source_dir)
    if not sources:
        raise FileNotFoundError(f"no course notebooks ({NUMBERED}) in {source_dir}")
    out_dir = Path(out_dir)
    folders = {Path(src).resolve().parent for src in sources} | {Path(source_dir).resolve()}
    if out_dir.resolve() in folders:
        raise ValueError(f"--out {out_dir} is the folder of the source notebooks: the student versions would "
                         "replace the solutions; choose another folder (e.g. release/)")
    targets = [out_dir / Path(src).name for src in sources]
    check_writable(targets, force, f"delete {out_dir}/ or pass --force (make release FORCE=1) to replace")
    students = [student_version(nbformat.read(src, as_version=4)) for src in sources]
    out_dir.mkdir(parents=True, exist_ok=True)
    for nb, target in zip(students, targets):
        nbformat.validate(nb)
        nbformat.write(nb, target)
        print(f"{target}", file=sys.stdout)
    copy_figures(Path(sources[0]).parent, out_dir)
    return targets


def copy_figures(source_dir: Path, out_dir: Path) -> Path | None:
    """Copy ``source_dir/figures/`` (the diagrams the markdown cells show) to
    ``out_dir/figures/``, replacing older copies, so that the notebooks there show them.
    Returns the copied folder, or None when the course has no figures."""
    src = Path(source_dir) / FIGURES
    if not src.is_dir():
        return None
    dst = Path(out_dir) / FIGURES
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst

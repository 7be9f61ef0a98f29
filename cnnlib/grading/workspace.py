"""The learner's workspace (``make lab``): student copies of the lessons in a git-ignored folder.

``my-notebooks/`` (created on first use) holds

- ``NN_topic.ipynb``: the student version of each lesson, as :func:`~cnnlib.grading.release.student_version`
  makes it (solutions stubbed, hidden tests and mark schemes removed, the lesson's outputs
  kept), with a note at the top saying where the solution is. This is the learner's own
  copy: it is **never overwritten**. A lesson added upstream is copied in; when a lesson
  changes upstream, :func:`refresh` reports it and the copy stays as it is until the
  learner asks for the new version (``update``): the learner's copy is then renamed
  ``NN_topic.mine-K.ipynb`` (K = 1, 2, ...) and the new version written in its place;
- ``solutions/NN_topic.ipynb``: copies of the source notebooks (``notebooks/``, with their
  solutions), so that a learner who is stuck can look, inside the same JupyterLab, without
  editing a tracked file. A solution copy is refreshed when the course changes, unless the
  learner edited it (then it is kept and reported);
- ``.course-versions.json``: which upstream version each copy came from (a SHA-256 of the
  student version, or of the solution copy as written).

JupyterLab runs on this folder only, so its autosave never touches a tracked file.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell

from .release import ROOT, SOURCE_DIR, copy_figures, numbered_notebooks, student_version

WORKSPACE = ROOT / "my-notebooks"
SOLUTIONS = "solutions"
MANIFEST = ".course-versions.json"
NOTE_TAG = "workspace-note"
PROGRESS = re.compile(r"\d+%\|.*\|")  # a tqdm bar: " 45%|####5     | 211/469 [...]"


def _note_cell(text: str) -> NotebookNode:
    cell = new_markdown_cell(text)
    cell.id = NOTE_TAG  # a fixed id, so that the same source gives the same copy
    cell.metadata = {"tags": [NOTE_TAG], "slideshow": {"slide_type": "skip"}}
    return cell


def without_progress_bars(nb: NotebookNode) -> NotebookNode:
    """``nb`` without the stderr outputs that text progress bars left (in place).

    Notebooks stored before ``cnnlib.train`` stopped drawing bars outside terminals hold one
    stderr output per redraw (``epoch 1/4:  45%|####5 | ...``, then blanks once the bar erased
    itself); JupyterLab shows each as an empty pink strip. Other stderr (warnings) is kept.
    """
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _progress_bar(o)]
    return nb


def _progress_bar(output: NotebookNode) -> bool:
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return False
    text = output.get("text", "")
    text = "".join(text) if isinstance(text, list) else text
    return not text.strip() or all(PROGRESS.search(part) for part in text.split("\r") if part.strip())


def learner_copy(source: NotebookNode, name: str) -> NotebookNode:
    """The student version of ``source`` with a note on top saying where its solution is."""
    nb = without_progress_bars(student_version(source))
    nb.cells.insert(0, _note_cell(
        f"> **Your copy** of `notebooks/{name}` (in `my-notebooks/`, git-ignored): write your answers "
        f"here; `make lab` never overwrites it. **Stuck?** The solutions are in "
        f"[`solutions/{name}`](solutions/{name}) (a copy of the course's source notebook "
        f"`notebooks/{name}`)."))
    return nb


def solution_copy(source: NotebookNode, name: str) -> NotebookNode:
    """``source`` (with its solutions) and a note on top saying it is the solution."""
    nb = without_progress_bars(copy.deepcopy(source))
    nb.cells.insert(0, _note_cell(
        f"> **Solutions**: a copy of the course's source notebook `notebooks/{name}`, with every "
        f"exercise answered. Your own copy, with the exercises to do, is [`../{name}`](../{name}). "
        f"`make lab` refreshes this copy when the course changes (unless you edited it)."))
    return nb


def _text(nb: NotebookNode) -> str:
    nbformat.validate(nb)
    return nbformat.writes(nb)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_digest(path: Path) -> str:
    return _digest(path.read_text(encoding="utf-8"))


def _backup_name(path: Path) -> Path:
    k = 1
    while (candidate := path.with_name(f"{path.stem}.mine-{k}{path.suffix}")).exists():
        k += 1
    return candidate


def _select(update: Sequence[str], names: Sequence[str]) -> set[str]:
    """Lesson names from ``update``: ``all``, full names, stems or ``NN`` prefixes."""
    chosen: set[str] = set()
    for word in update:
        if word == "all":
            return set(names)
        stem = Path(word).name.removesuffix(".ipynb")
        match = [n for n in names if n[:-len(".ipynb")] == stem or n.split("_", 1)[0] == stem]
        if not match:
            raise ValueError(f"update: no course notebook called {word!r}; known: {', '.join(names)}")
        chosen.update(match)
    return chosen


@dataclass
class Refresh:
    """What one :func:`refresh` did, by lesson name."""

    workspace: Path
    copied: list[str] = field(default_factory=list)      # new lesson copies
    newer: list[str] = field(default_factory=list)       # upstream changed; learner's copy kept
    updated: list[tuple[str, str]] = field(default_factory=list)  # (lesson, where the learner's copy went)
    solutions_kept: list[str] = field(default_factory=list)  # edited solution copies, not refreshed

    def summary(self, how_to_update: str = "make lab UPDATE=NN") -> str:
        """Lines for the terminal: what was copied, what has a newer version and how to get it."""
        lines = []
        if self.copied:
            lines.append(f"my-notebooks: {len(self.copied)} new lesson copies in {self.workspace}")
        for name, backup in self.updated:
            lines.append(f"my-notebooks: {name} is the new version; your copy is now {backup}")
        if self.newer:
            nums = " ".join(n.split("_", 1)[0] for n in self.newer)
            lines.append(f"my-notebooks: a newer version of {', '.join(self.newer)} is in the course; your copy "
                         f"is kept as it is. To get the new one (your copy is then kept as NN_topic.mine-K.ipynb): "
                         f"{how_to_update.replace('NN', repr(nums) if ' ' in nums else nums)}")
        for name in self.solutions_kept:
            lines.append(f"my-notebooks: solutions/{name} was edited, so it was not refreshed "
                         f"(delete it to get the current solution)")
        return "\n".join(lines)


def refresh(source_dir: Path = SOURCE_DIR, workspace: Path = WORKSPACE, update: Sequence[str] = ()) -> Refresh:
    """Create or refresh the learner's workspace from the course notebooks of ``source_dir``.

    Never overwrites a learner's lesson copy: missing ones are copied in, changed lessons
    are reported (``Refresh.newer``) unless named in ``update`` (``"all"``, names or
    ``NN`` prefixes), in which case the learner's copy is renamed first.
    """
    sources = numbered_notebooks(source_dir)
    if not sources:
        raise FileNotFoundError(f"no course notebooks in {source_dir}")
    names = [s.name for s in sources]
    wanted = _select(update, names)
    workspace = Path(workspace)
    (workspace / SOLUTIONS).mkdir(parents=True, exist_ok=True)
    manifest_path = workspace / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    lessons, solutions = manifest.setdefault("lessons", {}), manifest.setdefault("solutions", {})
    result = Refresh(workspace)
    for src in sources:
        name = src.name
        nb = nbformat.read(src, as_version=4)
        text = _text(learner_copy(nb, name))
        version = _digest(text)
        target = workspace / name
        if not target.exists():
            target.write_text(text, encoding="utf-8")
            lessons[name] = version
            result.copied.append(name)
        elif name not in lessons:  # a copy of unknown origin: take it as of this version
            lessons[name] = version
        elif lessons[name] != version:
            if name in wanted:
                backup = _backup_name(target)
                target.rename(backup)
                target.write_text(text, encoding="utf-8")
                lessons[name] = version
                result.updated.append((name, backup.name))
            else:
                result.newer.append(name)
        sol_text = _text(solution_copy(nb, name))
        sol, new = workspace / SOLUTIONS / name, _digest(sol_text)
        current = _file_digest(sol) if sol.exists() else None
        if current is None or (current == solutions.get(name) and current != new):
            sol.write_text(sol_text, encoding="utf-8")
            solutions[name] = new
        elif current == new:
            solutions[name] = new
        else:  # the learner edited it
            result.solutions_kept.append(name)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    copy_figures(Path(source_dir), workspace)  # the diagrams, for the copies and the solutions
    copy_figures(Path(source_dir), workspace / SOLUTIONS)
    return result

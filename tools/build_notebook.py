#!/usr/bin/env python3
"""Build or re-run course notebooks and store their outputs (a maintainer's tool).

    python tools/build_notebook.py notebooks/03_padding.ipynb            # re-run in place
    python tools/build_notebook.py draft.py notebooks/03_padding.ipynb   # from a jupytext
                                                                          # "percent" script

A percent script marks cells with ``# %%`` / ``# %% [markdown]`` and may carry cell
metadata in the marker line, e.g. ``# %% [markdown] slideshow={"slide_type": "slide"}``
or ``# %% tags=["nbval-ignore-output"]``. To edit a notebook as a script:
``jupytext --to py:percent notebooks/NN.ipynb -o draft.py``.

The notebook runs top to bottom in a fresh kernel with ``notebooks/`` as working
directory, and is written with its outputs. An existing notebook that is not the
source itself is only replaced with ``--force``. The wall time is printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def load(src: Path) -> nbformat.NotebookNode:
    if src.suffix == ".py":
        import jupytext

        nb = jupytext.read(src, fmt="py:percent")
        nb.metadata.pop("jupytext", None)
        return nb
    return nbformat.read(src, as_version=4)


def execute(nb: nbformat.NotebookNode, timeout: int = 600) -> float:
    nb.metadata["kernelspec"] = KERNELSPEC
    os.environ.setdefault("CNNLIB_DATA", str(ROOT / "data"))
    os.environ.setdefault("PYTHONHASHSEED", "0")
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="a .ipynb to re-run in place, or a percent .py script")
    ap.add_argument("target", type=Path, nargs="?", help="notebook to write (default: the source itself)")
    ap.add_argument("--force", action="store_true", help="replace an existing target notebook")
    ap.add_argument("--no-execute", action="store_true", help="only convert, do not run")
    args = ap.parse_args(argv)
    target = args.target or args.source
    if target.suffix != ".ipynb":
        ap.error(f"target must be a .ipynb file, got {target}")
    if target.exists() and target.resolve() != args.source.resolve() and not args.force:
        print(f"{target} exists; pass --force to replace it", file=sys.stderr)
        return 1
    nb = load(args.source)
    if not args.no_execute:
        seconds = execute(nb)
        print(f"{target}: ran in {seconds:.1f} s")
    # live widget state (the convolution explorer's sliders) would make every deck load the
    # widget scripts from a CDN and show dead sliders in the stored notebook: drop it
    nb.metadata.pop("widgets", None)
    nbformat.validate(nb)
    nbformat.write(nb, target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m cnnlib.grading``: release student notebooks, grade submissions.

    python -m cnnlib.grading release [--out release] [--force]
    python -m cnnlib.grading grade SUBMISSIONS [--out DIR] [--timeout 60] [--notebook-timeout 900] [--notebooks 03 04] [--force]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .autograde import DEFAULT_NOTEBOOK_TIMEOUT, DEFAULT_TIMEOUT, grade
from .sandbox import DEFAULT_MAX_PROCESSES, DEFAULT_MEMORY_GB, SandboxUnavailable
from .release import ROOT, SOURCE_DIR, RefuseOverwrite, release


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m cnnlib.grading", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write the student version of every numbered notebook")
    rel.add_argument("--source", type=Path, default=SOURCE_DIR, help="folder of the source notebooks (default: notebooks/)")
    rel.add_argument("--out", type=Path, default=ROOT / "release", help="where to write them (default: release/)")
    rel.add_argument("--force", action="store_true", help="replace existing files")
    gr = sub.add_parser("grade", help="grade <SUBMISSIONS>/<student>/<NN_topic>.ipynb")
    gr.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    gr.add_argument("--out", type=Path, default=None, help="output folder (default: <SUBMISSIONS>-graded)")
    gr.add_argument("--source", type=Path, default=SOURCE_DIR, help="folder of the source notebooks (default: notebooks/)")
    gr.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help=f"seconds per cell (default: {DEFAULT_TIMEOUT})")
    gr.add_argument("--notebook-timeout", type=float, default=DEFAULT_NOTEBOOK_TIMEOUT,
                    help=f"seconds per notebook, all cells together (default: {DEFAULT_NOTEBOOK_TIMEOUT})")
    gr.add_argument("--sandbox", choices=["auto", "require", "off"], default="auto",
                    help="run each kernel in bubblewrap: auto (warn loudly without it), require, off")
    gr.add_argument("--memory-gb", type=float, default=DEFAULT_MEMORY_GB,
                    help=f"memory limit of each kernel in the sandbox (default: {DEFAULT_MEMORY_GB:g})")
    gr.add_argument("--max-processes", type=int, default=DEFAULT_MAX_PROCESSES,
                    help=f"processes (threads included) each kernel may run in the sandbox (default: {DEFAULT_MAX_PROCESSES})")
    gr.add_argument("--notebooks", nargs="+", metavar="NN", help="grade only these notebooks (names or numbers)")
    gr.add_argument("--force", action="store_true", help="write into an output folder that holds files")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "release":
            written = release(args.source, args.out, force=args.force)
            print(f"{len(written)} student notebooks in {args.out}")
        else:
            grade(args.submissions, args.out, args.source, timeout=args.timeout, force=args.force,
                  notebooks=args.notebooks, notebook_timeout=args.notebook_timeout,
                  sandbox=args.sandbox, memory_gb=args.memory_gb, max_processes=args.max_processes)
    except RefuseOverwrite as exc:
        print(f"refusing to overwrite: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, SandboxUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Open JupyterLab on the learner's workspace (``make lab``), on Linux, macOS and Windows.

    python tools/lab.py [--update NN ...] [--no-launch] [-- JUPYTER_SERVER_FLAGS ...]

Run it with the environment's Python (``.venv/bin/python``, ``.venv\\Scripts\\python.exe``
or an active conda environment's ``python``):

1. creates or refreshes ``my-notebooks/`` (:mod:`cnnlib.grading.workspace`): the student
   copies of the lessons, never overwritten; lessons with a newer version upstream are
   listed with the command that gets them (``--update 03`` / ``make lab UPDATE=03``);
2. starts JupyterLab with ``my-notebooks/`` as its root, so autosave only ever writes the
   learner's copies, never a tracked file; ``--allow-root`` is added when run as root
   (Docker, many cloud VMs), and anything after ``--`` goes to the server
   (``make lab JUPYTER_ARGS="--no-browser --port 8899"``);
3. with ``tools/learner-lab/`` on ``JUPYTER_CONFIG_PATH``: nbgrader's server and lab
   extensions (instructors' menus, formgrader, the Validate button) are switched off for
   this server only, which also silences nbgrader's "No nbgrader_config.py file found";
   kernels get CurveZMQ transport encryption where pyzmq supports it (no "Kernel is
   running over TCP without encryption" warning).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
LEARNER_CONFIG = ROOT / "tools" / "learner-lab"


def running_as_root(geteuid: Callable[[], int] | None = getattr(os, "geteuid", None)) -> bool:
    """True for the superuser on POSIX; always False on Windows (no ``os.geteuid``)."""
    return geteuid is not None and geteuid() == 0


def server_flags(extra: Sequence[str], as_root: bool, curve: bool) -> list[str]:
    """Flags for ``jupyter lab`` besides the root folder: ``--allow-root`` as root (unless
    already given), transport encryption when available, then the user's ``extra`` flags."""
    flags = []
    if as_root and "--allow-root" not in extra:
        flags.append("--allow-root")
    if curve:
        flags.append("--KernelManager.transport_encryption=auto")
    return flags + list(extra)


def lab_environment(environ: dict[str, str], config_dir: Path = LEARNER_CONFIG) -> dict[str, str]:
    """``environ`` with ``config_dir`` first on ``JUPYTER_CONFIG_PATH`` (highest priority,
    read-only: settings and workspaces still go to the user's own Jupyter folder), and
    ``OMP_WAIT_POLICY=PASSIVE`` unless set: the notebooks' kernels import torch before
    cnnlib, so only their environment can make PyTorch's idle threads sleep instead of
    spinning on a laptop that is busy with something else (see THE RULE in cnnlib.train)."""
    env = dict(environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    rest = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = str(config_dir) + (os.pathsep + rest if rest else "")
    return env


def lab_command(workspace: Path, flags: Sequence[str], python: str = sys.executable) -> list[str]:
    return [python, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}", *flags]


def curve_available() -> bool:
    try:
        import zmq
    except ImportError:  # pragma: no cover - pyzmq comes with jupyter
        return False
    return bool(zmq.has("curve"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", nargs="+", default=[], metavar="NN",
                    help="get the newer version of these lessons ('all', names or numbers); your copy is renamed")
    ap.add_argument("--workspace", type=Path, default=ROOT / "my-notebooks", help="default: my-notebooks/")
    ap.add_argument("--no-launch", action="store_true", help="refresh the workspace only")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from cnnlib.grading.workspace import refresh

    updates = [w for word in args.update for w in word.replace(",", " ").split()]
    try:
        result = refresh(workspace=args.workspace, update=updates)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = result.summary("make lab UPDATE=NN  (without make: python tools/lab.py --update NN)")
    if report:
        print(report, flush=True)
    print(f"my-notebooks: your copies are in {args.workspace}; solutions in {args.workspace / 'solutions'}", flush=True)
    if args.no_launch:
        return 0
    cmd = lab_command(args.workspace.resolve(), server_flags(extra, running_as_root(), curve_available()))
    print("+ " + " ".join(cmd), flush=True)
    env = lab_environment(os.environ)
    if os.name == "posix":  # the server takes this process's place: Ctrl-C goes to it alone
        os.execve(cmd[0], cmd, env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Windows: Ctrl-C is the server's to handle
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Create the environment and install the pinned packages (``make setup``), on Linux, macOS and Windows.

    python3 tools/setup_venv.py [--venv .venv] [--torch auto|cpu|cuda] [--pip]
    py tools\\setup_venv.py                      (Windows, without make)
    python tools/setup_venv.py --venv "$CONDA_PREFIX"   (into an active conda environment)

1. ``python -m venv .venv`` unless the folder already holds a Python (an existing venv or a
   conda environment is kept and updated; none is created beside it). The interpreter is
   ``bin/python`` on Linux and macOS, ``Scripts\\python.exe`` in a Windows venv and
   ``python.exe`` at the root of a Windows conda environment.
2. torch and torchvision, by *route* (``--torch``, default ``auto``):

   - ``cpu``: the CPU-only builds from PyTorch's own index (download.pytorch.org/whl/cpu) on
     Linux, where the registry's default wheels are CUDA builds that pull in about 4 GB of
     ``nvidia-*`` and ``triton`` wheels; on macOS and Windows the registry's default wheels
     already are the CPU (and Apple MPS) builds, so nothing changes there;
   - ``cuda``: the registry's default wheels (CUDA builds on Linux);
   - ``auto``: ``cpu`` on Linux unless an NVIDIA GPU is found (``nvidia-smi -L`` lists one,
     or ``/proc/driver/nvidia/gpus`` has an entry); the registry's default on macOS/Windows.

   Where PyTorch's index cannot be reached (a machine whose only package source is a
   registry mirror, as in CI) or does not serve the pinned pair, the default wheels are
   installed instead, with a one-line note. One line says which route was chosen and why.
3. the pins of ``requirements.txt``, installed with `uv <https://docs.astral.sh/uv/>`_ when it
   can be had (from ``PATH``, or ``pip install uv`` into the environment): uv installs
   wheels and compiles modules in parallel, about 3x faster than pip. ``--pip``, or any
   failure of uv, uses pip instead;
4. cnnlib itself, editable (``pip install --no-deps -e .``).

uv does not read pip's configuration, so the package sources pip is configured with
(``pip config list``: ``index-url``, ``extra-index-url``, ``find-links``, from files or
``PIP_*`` variables, e.g. a mirror or a folder of wheels) are handed to uv, and uv looks
for the best match across all of them, as pip does. Standard library only: this runs
before anything is installed.
"""
from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
UV_VERSION = "0.13.9"
PIP_QUIET = ["-q", "--disable-pip-version-check"]
# pip config key -> uv option (pip's values may hold several entries separated by spaces)
PIP_SOURCES = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_PACKAGES = ("torch", "torchvision")
ROUTES = ("auto", "cpu", "cuda")


def run(cmd: list, check: bool = True) -> subprocess.CompletedProcess:
    print("+ " + shlex.join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=check)


def note(message: str) -> None:
    print(f"setup: {message}", flush=True)


# --- platform -------------------------------------------------------------------------

def is_windows(platform: str = sys.platform) -> bool:
    return platform.startswith("win")


def env_python(env: Path, platform: str = sys.platform) -> Path:
    """The interpreter of the environment ``env`` (it need not exist yet).

    Linux/macOS: ``env/bin/python``. Windows: ``env\\Scripts\\python.exe`` (a venv), or
    ``env\\python.exe`` when that exists (the root of a conda environment).
    """
    env = Path(env)
    if not is_windows(platform):
        return env / "bin" / "python"
    conda_style = env / "python.exe"
    return conda_style if conda_style.exists() else env / "Scripts" / "python.exe"


def env_scripts(env: Path, platform: str = sys.platform) -> Path:
    """The folder of the environment's console scripts (``jupyter``, ``uv``)."""
    env = Path(env)
    if not is_windows(platform):
        return env / "bin"
    return env / "Scripts"


def exe(name: str, platform: str = sys.platform) -> str:
    return name + ".exe" if is_windows(platform) else name


# --- route ----------------------------------------------------------------------------

def nvidia_gpu_present(which: Callable[[str], str | None] = shutil.which,
                       gpus_dir: Path = Path("/proc/driver/nvidia/gpus"),
                       runner: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> bool:
    """True when the NVIDIA driver reports a GPU: ``/proc/driver/nvidia/gpus/*`` or ``nvidia-smi -L``."""
    try:
        if gpus_dir.is_dir() and any(gpus_dir.iterdir()):
            return True
    except OSError:
        pass
    smi = which("nvidia-smi")
    if not smi:
        return False
    try:
        out = runner([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def choose_route(requested: str, platform: str, gpu: Callable[[], bool]) -> tuple[str, str]:
    """``(route, why)``; route is ``"cpu-index"`` (PyTorch's CPU index) or ``"default"`` (registry wheels).

    ``gpu`` is only called where it matters (``auto`` on Linux).
    """
    if requested not in ROUTES:
        raise ValueError(f"--torch must be one of {', '.join(ROUTES)}, got {requested!r}")
    if not platform.startswith("linux"):
        system = "macOS" if platform == "darwin" else "Windows" if is_windows(platform) else platform
        if requested == "cuda" and is_windows(platform):
            return "default", ("they are CPU-only on Windows; for a CUDA build of torch follow the selector "
                               "on pytorch.org")
        return "default", f"on {system} they already are the {'CPU/MPS' if platform == 'darwin' else 'CPU'} build"
    if requested == "cpu":
        return "cpu-index", "as asked (--torch cpu)"
    if requested == "cuda":
        return "default", "the CUDA build, as asked (--torch cuda)"
    if gpu():
        return "default", "the CUDA build: an NVIDIA GPU was found (--torch cpu for the light CPU-only build)"
    return "cpu-index", "no NVIDIA GPU found (--torch cuda for the CUDA build)"


def describe(route: str) -> str:
    return "the CPU-only build from PyTorch's index" if route == "cpu-index" else "the registry's default wheels"


def index_reachable(url: str = CPU_INDEX, timeout: float = 10.0,
                    opener: Callable[..., object] = urllib.request.urlopen) -> bool:
    """Whether PyTorch's index answers for torch's page within ``timeout`` seconds."""
    try:
        with opener(f"{url}/torch/", timeout=timeout) as response:  # type: ignore[attr-defined]
            return 200 <= getattr(response, "status", 200) < 400
    except (OSError, ValueError, urllib.error.URLError):
        return False


def torch_pins(requirements: Path) -> list[str]:
    """The ``torch==...`` and ``torchvision==...`` lines of ``requirements``."""
    pins = []
    for line in Path(requirements).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        name = re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower()
        if name in TORCH_PACKAGES:
            pins.append(line)
    return pins


def installed_torch(py: Path) -> str | None:
    """The version of torch installed in the environment (e.g. ``2.14.1+cpu``), or None."""
    out = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or None if out.returncode == 0 else None


def is_cpu_build(version: str | None) -> bool:
    return bool(version) and version.endswith("+cpu")


# --- installers -----------------------------------------------------------------------

def pip_sources(config_list: str) -> list[str]:
    """uv options for the package sources in ``pip config list`` output.

    Lines look like ``global.find-links='/opt/wheels'`` or ``:env:.extra-index-url='a b'``;
    repeated sources are given once, in the order pip lists them.
    """
    pairs: dict[tuple[str, str], None] = {}  # ordered set
    for line in config_list.splitlines():
        key, _, value = line.partition("=")
        option = PIP_SOURCES.get(key.rsplit(".", 1)[-1])
        if option and value:
            for entry in " ".join(shlex.split(value)).split():
                pairs[(option, entry)] = None
    return [word for pair in pairs for word in pair]


def find_uv(py: Path) -> str | None:
    """uv from PATH, from the environment, or installed into it with pip; None if none."""
    local = py.parent / exe("uv")
    for candidate in (shutil.which("uv"), local):
        if candidate and Path(candidate).exists():
            return str(candidate)
    if run([py, "-m", "pip", "install", *PIP_QUIET, f"uv=={UV_VERSION}"], check=False).returncode == 0:
        for candidate in (local, py.parent / "Scripts" / exe("uv")):
            if candidate.exists():
                return str(candidate)
    return None


class Installer:
    """``install(args)`` with uv (pip's sources handed over) or pip; uv failing falls back to pip."""

    def __init__(self, py: Path, use_pip: bool):
        self.py = py
        self.uv = None if use_pip else find_uv(py)
        self.sources: list[str] = []
        if self.uv is not None:
            config = subprocess.run([py, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
            self.sources = pip_sources(config)

    def install(self, args: list, extra_index: str | None = None) -> bool:
        extra = ["--extra-index-url", extra_index] if extra_index else []
        if self.uv is not None:
            # --compile-bytecode: write .pyc files now, as pip does, not on the first imports;
            # unsafe-best-match: the best version across all sources, as pip picks it
            cmd = [self.uv, "pip", "install", "-q", "--python", self.py, "--compile-bytecode",
                   "--index-strategy", "unsafe-best-match", *self.sources, *extra, *args]
            if run(cmd, check=False).returncode == 0:
                return True
            print("uv could not install them; trying pip", file=sys.stderr)
        return run([self.py, "-m", "pip", "install", *PIP_QUIET, *extra, *args], check=False).returncode == 0

    def uninstall(self, names: tuple[str, ...]) -> None:
        run([self.py, "-m", "pip", "uninstall", "-y", "-q", *names], check=False)


def install_torch(installer: Installer, route: str, requirements: Path,
                  reachable: Callable[[], bool] | None = None) -> str:
    """Install the pinned torch pair by ``route``; returns the route that was taken.

    ``cpu-index`` falls back to ``default`` (with a one-line note) when PyTorch's index
    cannot be reached or does not give a CPU build; ``default`` leaves torch to the
    requirements step. A torch of the other build is uninstalled first.
    """
    current = installed_torch(installer.py)
    if route == "cpu-index" and not (reachable or index_reachable)():
        note(f"PyTorch's CPU index ({CPU_INDEX}) cannot be reached: installing the registry's "
             "default torch wheels instead (larger, same results on a CPU)")
        route = "default"
    if route == "default":
        if is_cpu_build(current):  # switching from the CPU build
            installer.uninstall(TORCH_PACKAGES)
        return "default"
    if current is not None and not is_cpu_build(current):
        installer.uninstall(TORCH_PACKAGES)
    pins = torch_pins(requirements)
    if installer.install(pins, extra_index=CPU_INDEX) and is_cpu_build(installed_torch(installer.py)):
        return "cpu-index"
    note(f"PyTorch's CPU index did not give a CPU build of {' '.join(pins)}: installing the "
         "registry's default torch wheels instead")
    return "default"  # whatever came is the registry's build, pinned by the requirements step


def main(argv: list[str] | None = None, platform: str = sys.platform) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv",
                    help="environment folder (default .venv; an existing venv or conda environment is reused)")
    ap.add_argument("--torch", choices=ROUTES, default="auto",
                    help="which torch build: auto (default), cpu or cuda")
    ap.add_argument("--pip", action="store_true", help="install with pip only (no uv)")
    args = ap.parse_args(argv)
    route, why = choose_route(args.torch, platform, nvidia_gpu_present)
    note(f"torch: {describe(route)}, {why}")
    py = env_python(args.venv, platform)
    if not py.exists():
        run([sys.executable, "-m", "venv", args.venv])
        py = env_python(args.venv, platform)
    requirements = ROOT / "requirements.txt"
    installer = Installer(py, args.pip)
    taken = install_torch(installer, route, requirements)
    if not installer.install(["-r", requirements]):
        raise SystemExit("setup: the requirements could not be installed (see the messages above)")
    # cnnlib, editable; without build isolation when the environment has setuptools (Python
    # 3.11's venv does, 3.12's does not), which saves fetching it
    has_setuptools = subprocess.run([py, "-c", "import setuptools"], capture_output=True).returncode == 0
    run([py, "-m", "pip", "install", *PIP_QUIET, "--no-deps", *(["--no-build-isolation"] if has_setuptools else []),
         "-e", ROOT])
    note(f"done: torch {installed_torch(py)} ({'CPU-only build' if taken == 'cpu-index' else 'registry default'}) "
         f"in {args.venv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

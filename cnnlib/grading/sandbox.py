"""Run each submission's kernel in a sandbox (Debian's bubblewrap), not as the instructor.

What the kernel of a graded notebook sees, when bubblewrap (``bwrap``) can be had:

- a private scratch folder (its working directory, ``HOME`` and ``/tmp``), emptied and
  removed after the notebook;
- read-only: the system (``/usr``, ``/etc``, ...), the Python installation and its
  packages, the dataset cache, and a *copy* of ``cnnlib`` made when grading starts (the
  checks cannot be rewritten, for this student or the next);
- nothing else: not the source notebooks (solutions, hidden tests), not the gradebook,
  not the other students' submissions, not the output folder, not the instructor's home;
- no network (a network namespace of its own, loopback only), its own process tree (it
  cannot see or signal the grader, and ``/proc`` shows only its own processes), and
  limits on memory (address space), open files and processes (``RLIMIT_NPROC``, threads
  included: a fork bomb stops at ``max_processes``); when the kernel ends, bubblewrap ends
  every process it started, also those that detached themselves.

Linux does not apply ``RLIMIT_NPROC`` to root, and bubblewrap started by root maps the
sandbox's user to root outside it. So when the grader runs as root (a container, CI), the
sandbox uses a user namespace of its own that maps ``nobody`` (65534) to ``nobody``
outside (:class:`_NobodyNamespace`); the kernel drops to it before it starts, without any
capability, and the process limit holds. Where that namespace cannot be made, grading goes
on with a warning that the process limit is not enforced.

The grader talks to the kernel over Unix sockets in the scratch folder (ZeroMQ's ``ipc``
transport), so no TCP port is opened at all.

What it does not protect against by itself: code that rewrites the check functions inside
its own kernel (the grader re-runs every check outside the kernel for that, see
:mod:`cnnlib.grading.replay`); a machine overloaded by a student's busy loop until the
per-cell limit stops it; and memory: the limit is per process, so ``max_processes``
processes may together use up to ``max_processes * memory_gb`` (a cgroup would be needed
for a total).

Without bubblewrap (not installed, or user namespaces disabled) grading still runs, in
plain kernels with the instructor's rights, after a loud warning (``sandbox="auto"``),
or refuses to run (``sandbox="require"``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

MODES = ("auto", "require", "off")
DEFAULT_MEMORY_GB = 6.0
# Threads count as processes for RLIMIT_NPROC: PyTorch and BLAS start about one per core.
DEFAULT_MAX_PROCESSES = max(256, 4 * (os.cpu_count() or 1))
NOBODY = 65534
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot be run here, and the sandbox was required."""


def bwrap_works(bwrap: str | None = None) -> tuple[bool, str]:
    """Whether bubblewrap can start a process in new namespaces here; and why not."""
    bwrap = bwrap or shutil.which("bwrap")
    if not bwrap:
        return False, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                "--unshare-all", "--unshare-user", "--die-with-parent", "true"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap could not be started ({exc})"
    if probe.returncode != 0:
        return False, f"bubblewrap cannot create namespaces here ({probe.stderr.strip() or probe.returncode})"
    return True, ""


def _python_dirs() -> list[str]:
    """The folders the kernel's Python needs: the installation, the virtual environment and
    its packages. Not the rest of ``sys.path``: its first entry is often the working
    directory, e.g. the course repository with its solutions."""
    import site

    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}
    user = site.getusersitepackages()
    if isinstance(user, str) and os.path.isdir(user):
        dirs.add(user)
    return sorted(os.path.realpath(d) for d in dirs if os.path.isdir(d))


class _NobodyNamespace:
    """A user namespace, made by root, in which root is root and ``nobody`` is ``nobody``
    outside too: bubblewrap joins it (``--userns``) to set up the mounts, and the kernel then
    drops to ``nobody``, for which Linux enforces ``RLIMIT_NPROC`` (for root it does not).
    A small process holds the namespace open until :meth:`close`."""

    HOLD = ("import ctypes, sys\n"
            "if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:\n"
            "    sys.exit('unshare(CLONE_NEWUSER) failed: errno %d' % ctypes.get_errno())\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n")

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", self.HOLD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if self.proc.stdout.readline().strip() != "ready":
                raise OSError(self.proc.stderr.read().strip() or "the namespace holder ended")
            mapping = f"0 0 1\n{NOBODY} {NOBODY} 1\n"
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{self.proc.pid}/{name}", "w") as f:
                    f.write(mapping)
        except BaseException:
            self.close()
            raise
        self.path = f"/proc/{self.proc.pid}/ns/user"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


class Sandbox:
    """One grading run's sandbox: a trusted read-only copy of cnnlib, and a fresh scratch
    folder per notebook. Use as a context manager; everything it wrote is removed."""

    def __init__(self, mode: str = "auto", data_dir: Path | None = None,
                 memory_gb: float = DEFAULT_MEMORY_GB, hidden: tuple[Path, ...] = (), log=None,
                 max_processes: int = DEFAULT_MAX_PROCESSES):
        if mode not in MODES:
            raise ValueError(f"sandbox must be one of {MODES}, got {mode!r}")
        if not isinstance(memory_gb, (int, float)) or isinstance(memory_gb, bool) or memory_gb <= 0:
            raise ValueError(f"memory_gb must be a positive number of gigabytes, got {memory_gb!r}")
        if not isinstance(max_processes, int) or isinstance(max_processes, bool) or max_processes < 16:
            raise ValueError(f"max_processes must be a whole number of processes (threads included), at least 16, "
                             f"got {max_processes!r}")
        self.mode, self.memory_gb, self.max_processes = mode, float(memory_gb), max_processes
        self._userns: _NobodyNamespace | None = None
        log = log if log is not None else sys.stderr
        self.data_dir = Path(data_dir).resolve() if data_dir else None
        self.hidden = tuple(Path(h).resolve() for h in hidden)
        self.enabled, self.reason = False, "sandbox off"
        if mode != "off":
            self.enabled, self.reason = bwrap_works()
            if not self.enabled:
                if mode == "require":
                    raise SandboxUnavailable(f"the sandbox was required but {self.reason}")
                print(f"WARNING: grading WITHOUT a sandbox: {self.reason}. Submissions run with your rights: "
                      "they can read the solutions and hidden tests, other students' files and the output "
                      "folder, and kill the grader. Install bubblewrap, or grade only trusted notebooks.",
                      file=log)
        if self.enabled and os.geteuid() == 0:
            try:
                self._userns = _NobodyNamespace()
            except OSError as exc:
                print(f"WARNING: grading as root, and no user namespace for 'nobody' could be made ({exc}): "
                      "Linux does not enforce the process limit for root, so a fork bomb is stopped only "
                      "when its kernel ends. Grade as an unprivileged user.", file=log)
        self._tmp = tempfile.TemporaryDirectory(prefix="cnnlib-sandbox-")
        self.root = Path(self._tmp.name)
        self.lib = self.root / "lib"
        if self.enabled:
            import cnnlib

            shutil.copytree(Path(cnnlib.__file__).parent, self.lib / "cnnlib",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for f in (self.lib / "cnnlib").rglob("*"):
                f.chmod(0o555 if f.is_dir() else 0o444)
        if self._userns is not None and not self._probe():
            self._userns.close()
            self._userns = None
            print("WARNING: grading as root, and the kernel cannot run as 'nobody' here: Linux does not enforce "
                  "the process limit for root, so a fork bomb is stopped only when its kernel ends.", file=log)

    def _probe(self) -> bool:
        """Whether a process starts in the sandbox as it is set up (root's namespace for nobody)."""
        scratch = self.scratch()
        try:
            done = subprocess.run(self.command([sys.executable, "-c", "import os; assert os.getuid() != 0"], scratch),
                                  capture_output=True, timeout=60)
            return done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
        finally:
            remove_tree(scratch)

    def scratch(self) -> Path:
        """A new, empty working folder for one notebook's kernel."""
        path = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
        if self._userns is not None:
            os.chown(path, NOBODY, NOBODY)
        return path

    def _parents(self, destinations: list[str]) -> list[str]:
        """``--dir`` arguments (mode 0755) for the folders above each mount point, which
        bubblewrap would otherwise create readable by root only: ``nobody`` must pass."""
        made, args = {"/", "/tmp", "/proc", "/dev"}, []
        for dest in destinations:
            for parent in reversed(Path(dest).parents):
                if str(parent) not in made:
                    made.add(str(parent))
                    args += ["--perms", "0755", "--dir", str(parent)]
        return args

    def command(self, cmd: list[str], scratch: Path) -> list[str]:
        """``cmd`` (a kernel's command line) wrapped to run inside the sandbox."""
        if self._userns is None:
            args = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        else:  # root: join the namespace that maps nobody to nobody; the launcher drops to it
            args = ["sh", "-c", 'exec bwrap --userns 3 "$@" 3<"$0"', self._userns.path,
                    "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                    "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        args += ["--die-with-parent", "--new-session", "--hostname", "grader-sandbox",
                 "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        binds = [d for d in SYSTEM_DIRS if os.path.exists(d)] + _python_dirs() + [str(scratch)]
        if self.data_dir is not None and self.data_dir.exists():
            binds.append(str(self.data_dir))
        args += self._parents(binds)
        for d in SYSTEM_DIRS:
            args += ["--ro-bind-try", d, d]
        for d in _python_dirs():
            inside = [h for h in self.hidden if h == Path(d) or Path(d) in h.parents]
            if inside:
                raise SandboxUnavailable(f"the Python installation {d} holds {inside[0]}, which the sandbox "
                                         "must hide: use a virtual environment outside it")
            args += ["--ro-bind-try", d, d]
        if self.data_dir is not None and self.data_dir.exists():
            args += ["--ro-bind", str(self.data_dir), str(self.data_dir)]
        args += ["--ro-bind", str(self.lib), "/trusted-lib",
                 "--bind", str(scratch), str(scratch), "--chdir", str(scratch),
                 "--setenv", "HOME", str(scratch), "--setenv", "PYTHONPATH", "/trusted-lib",
                 "--setenv", "MPLCONFIGDIR", str(scratch / ".matplotlib"),
                 "--setenv", "IPYTHONDIR", str(scratch / ".ipython"), "--setenv", "TMPDIR", "/tmp",
                 "--unsetenv", "JUPYTER_RUNTIME_DIR", "--unsetenv", "JUPYTER_CONFIG_DIR",
                 # ipykernel polls its parent by pid, which means nothing in a pid namespace
                 # (bwrap ends the kernel with its parent instead: --die-with-parent)
                 "--unsetenv", "JPY_PARENT_PID"]
        if self.data_dir is not None:
            args += ["--setenv", "CNNLIB_DATA", str(self.data_dir)]
        limit = int(self.memory_gb * (1 << 30))
        drop = (f"os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY}); "
                if self._userns is not None else "")
        launcher = ("import os, resource, sys; "
                    f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
                    "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)); "
                    f"resource.setrlimit(resource.RLIMIT_NPROC, ({self.max_processes}, {self.max_processes})); "
                    f"{drop}"
                    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")
        return args + ["--", cmd[0], "-c", launcher] + cmd[1:]

    def kernel_manager_class(self, scratch: Path) -> type:
        """An ``AsyncKernelManager`` whose kernel runs in this sandbox, in ``scratch``,
        connected through Unix sockets there."""
        sandbox = self

        class SandboxedKernelManager(AsyncKernelManager):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.transport = "ipc"
                self.ip = str(scratch / "kernel")
                self.connection_file = str(scratch / "kernel.json")

            async def _async_pre_start_kernel(self, **kw: Any):
                cmd, kw = await super()._async_pre_start_kernel(**kw)
                if sandbox._userns is not None:  # the kernel, as nobody, must read its connection file
                    os.chown(self.connection_file, NOBODY, NOBODY)
                # A SIGINT would reach bwrap, not the kernel: interrupt over the control channel.
                self.kernel_spec.interrupt_mode = "message"
                return cmd, kw

            def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
                return sandbox.command(super().format_kernel_cmd(extra_arguments), scratch)

        return SandboxedKernelManager

    def close(self) -> None:
        if self._userns is not None:
            self._userns.close()
            self._userns = None
        for path in self.root.rglob("*"):  # read-only copies: make them removable
            try:
                path.chmod(0o700 if path.is_dir() else 0o600)
            except OSError:
                pass
        self._tmp.cleanup()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def prepare_datasets(data_dir: Path) -> None:
    """Unpack the datasets found in ``data_dir`` now (torchvision unpacks on first use,
    which a read-only sandbox could not do), so that lesson cells can load them."""
    from .. import data

    for name, folder in data.DATASETS.items():
        raw = Path(data_dir) / folder / "raw"
        if raw.is_dir() and any(raw.glob("*.gz")):
            for split in ("train", "test"):
                try:
                    data.load_dataset(name, split, root=data_dir, download=True)
                except data.DatasetUnavailableError:
                    pass  # the lesson cell will say what is missing


def remove_tree(path: Path) -> None:
    """Remove a scratch folder whatever its kernel left in it (read-only files included)."""
    if not Path(path).exists():
        return
    for p in Path(path).rglob("*"):
        try:
            if not p.is_symlink():
                p.chmod(0o700 if p.is_dir() else 0o600)
        except OSError:
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shutil.rmtree(path, ignore_errors=True)

"""The grader's sandbox (bubblewrap) against hostile submissions.

Each student below tries one attack in a solution cell and sets ``sq = 9`` (the right
answer of the toy's exercise 2) only if the attack worked, so a sandbox that holds gives
them 0 on that exercise, while an honest student in the same batch keeps full marks.
Skipped where bubblewrap cannot run (the grader then warns; see test_sandbox_off_warns),
but CI installs it, and there the skip is a failure.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import TOY, _answer, _write, toy_source  # noqa: E402

from cnnlib.grading import sandbox as sandbox_mod  # noqa: E402
from cnnlib.grading.__main__ import main  # noqa: E402
from cnnlib.grading.autograde import grade  # noqa: E402
from cnnlib.grading.release import ROOT, student_version  # noqa: E402

WORKS, WHY = sandbox_mod.bwrap_works()
if not WORKS and os.environ.get("CI"):
    pytest.fail(f"bubblewrap is required in CI (.ci/run installs it): {WHY}", pytrace=False)
needs_bwrap = pytest.mark.skipif(not WORKS, reason=f"bubblewrap cannot run here: {WHY}")

MAX_PROCESSES = 64  # per kernel, threads included
RIGHT = dict(ex1_answer="def double(x):\n    return 2 * x", ex3_answer="x + x = (1 + 1) x.",
             ex4_answer="def triple(x):\n    return 3 * x")


MEMORY_ATTACK = "import mmap\nbuf = mmap.mmap(-1, 3 * 2**30)\nbuf[-1] = 1"


def _attempt(attack: str) -> str:
    """A solution cell for exercise 2 that is right only if ``attack`` runs without error."""
    body = "\n".join("    " + line for line in attack.strip().splitlines())
    return f"sq = 0\ntry:\n{body}\n    sq = 9\nexcept Exception as exc:\n    print('blocked:', type(exc).__name__)"


# Attacks that would harm this machine or the repository if they worked: not tried unsandboxed.
HARMFUL = {"kill_grader", "rewrite_checks", "rewrite_trusted_copy", "fork_bomb"}
# Attacks judged by what they leave behind, not by the points: a detached process may start
# inside the sandbox, but must not outlive it; the kill attempt always raises afterwards.
BY_SIDE_EFFECT = {"detach", "kill_grader"}


def _grade_attacks(root: Path, mode: str, skip: set[str] = frozenset()):
    course = root / "course"
    _write(toy_source(), course / f"{TOY}.ipynb")
    stub = student_version(toy_source())
    subs = root / "submitted"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    marker = f"cnnlib-sandbox-test-{os.getpid()}"
    attacks = {
        "read_source": f"open({str(course / (TOY + '.ipynb'))!r}).read()",
        "read_repo_solutions": f"open({str(ROOT / 'notebooks' / '00_setup_and_tour.ipynb')!r}).read()",
        "read_gradebook": "import glob\nassert glob.glob('/tmp/cnnlib-grading-*/gradebook.db')",
        "read_other_student": f"open({str(subs / 'honest' / (TOY + '.ipynb'))!r}).read()",
        "write_output": f"open({str(root / 'graded' / 'planted.txt')!r}, 'w').write('x')",
        "rewrite_checks": f"open({str(ROOT / 'cnnlib' / 'checks' / 'core.py')!r}, 'a').write('# hacked')",
        "rewrite_trusted_copy": "import cnnlib.checks.core as c\nopen(c.__file__, 'a').write('# hacked')",
        "network": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)",
        "see_grader": "import os\nassert any(p.isdigit() and int(p) > 10 for p in os.listdir('/proc'))",
        "kill_grader": "import os, signal\nos.kill(1, signal.SIGKILL)\nos.kill(os.getppid(), signal.SIGKILL)\n"
                       "raise RuntimeError('still alive')",
        # 3 GiB of address space, over the 2 GiB limit, mapped but barely touched, so that the
        # unsandboxed control needs little real memory on the machine running the tests
        "memory": MEMORY_ATTACK,
        "detach": f"import subprocess\nsubprocess.Popen(['sleep', '300', '{marker}'], start_new_session=True)",
        # every child forks on for ever (never returning into the kernel); the kernel itself
        # stops at the first refused fork, which must come before 400
        "fork_bomb": "import os, time\nfor _ in range(400):\n    if os.fork() == 0:\n        while True:\n"
                     "            try:\n                os.fork()\n            except OSError:\n                time.sleep(1)",
    }
    attacks = {k: v for k, v in attacks.items() if k not in skip}
    for student, attack in attacks.items():
        _write(_answer(stub, ex2_answer=_attempt(attack), **RIGHT), subs / student / f"{TOY}.ipynb")
    _write(_answer(stub, ex2_answer="sq = 9", **RIGHT), subs / "honest" / f"{TOY}.ipynb")
    before = (ROOT / "cnnlib" / "checks" / "core.py").read_text()
    try:
        run = grade(subs, root / "graded", source_dir=course, timeout=20, sandbox=mode, memory_gb=2,
                    max_processes=MAX_PROCESSES)
    finally:
        listener.close()
        if mode == "off":
            subprocess.run(["pkill", "-f", marker])
    return run, {(g.student, g.grade_id): g for g in run.grades}, root, attacks, marker, before


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return _grade_attacks(tmp_path_factory.mktemp("hostile"), "require")


@pytest.fixture(scope="module")
def unsandboxed(tmp_path_factory):
    """The control: the same attacks without the sandbox (the harmful ones left out)."""
    return _grade_attacks(tmp_path_factory.mktemp("unsandboxed"), "off", skip=HARMFUL)


def _machine_allows_memory_attack() -> bool:
    """Whether a plain Python process here may map what the memory attack maps (a machine with a
    strict overcommit policy or an address-space limit of its own refuses it, sandbox or not)."""
    return subprocess.run([sys.executable, "-c", MEMORY_ATTACK], capture_output=True, timeout=60).returncode == 0


def test_the_attacks_are_real_they_work_without_the_sandbox(unsandboxed):
    _, grades, _, attacks, _, _ = unsandboxed
    if not _machine_allows_memory_attack():
        attacks = {k: v for k, v in attacks.items() if k != "memory"}
        print("this machine refuses a 3 GiB mapping to any process: the memory attack's control is left out")
    worked = {s for s in attacks if grades[s, "ex2-check"].status == "passed"}
    why = {s: (grades[s, "ex2-check"].status, grades[s, "ex2-check"].message[:300]) for s in set(attacks) - worked}
    assert worked == set(attacks), f"attacks that failed even unsandboxed: {why}"


@needs_bwrap
def test_every_attack_fails_and_earns_nothing(hostile):
    run, grades, root, attacks, _, _ = hostile
    for student in set(attacks) - BY_SIDE_EFFECT:
        g = grades[student, "ex2-check"]
        assert (g.points, g.status) == (0, "failed"), (student, g)


@needs_bwrap
def test_honest_students_are_graded_right_whatever_else_is_in_the_batch(hostile):
    _, grades, _, attacks, _, _ = hostile
    for student in ["honest", *attacks]:
        for grade_id in ("ex1-check", "ex4-check"):
            assert grades[student, grade_id].status == "passed", (student, grades[student, grade_id])
    assert grades["honest", "ex2-check"].status == "passed"


@needs_bwrap
def test_nothing_written_outside_the_output_folder_and_no_process_left(hostile):
    _, _, root, _, marker, before = hostile
    assert not (root / "graded" / "planted.txt").exists()
    assert (ROOT / "cnnlib" / "checks" / "core.py").read_text() == before
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert not left, f"processes started by a submission outlived its kernel: {left}"
    assert not list(Path("/tmp").glob("cnnlib-sandbox-*/run-*")), "scratch folders were left behind"


def test_sandbox_off_warns_and_require_refuses(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sandbox_mod.shutil, "which", lambda name: None)
    box = sandbox_mod.Sandbox("auto")
    assert not box.enabled and "not installed" in box.reason
    assert "WARNING: grading WITHOUT a sandbox" in capsys.readouterr().err
    box.close()
    with pytest.raises(sandbox_mod.SandboxUnavailable, match="required"):
        sandbox_mod.Sandbox("require")
    _write(toy_source(), tmp_path / "course" / f"{TOY}.ipynb")
    _write(student_version(toy_source()), tmp_path / "subs" / "ann" / f"{TOY}.ipynb")
    assert main(["grade", str(tmp_path / "subs"), "--source", str(tmp_path / "course"), "--sandbox", "require"]) == 2
    assert "bubblewrap" in capsys.readouterr().err
    with pytest.raises(ValueError, match="sandbox must be one of"):
        sandbox_mod.Sandbox("maybe")
    with pytest.raises(ValueError, match="memory_gb must be a positive number"):
        sandbox_mod.Sandbox("off", memory_gb=0)
    with pytest.raises(ValueError, match="max_processes must be a whole number"):
        sandbox_mod.Sandbox("off", max_processes=2)


@needs_bwrap
def test_a_fork_bomb_is_contained_and_the_others_are_graded(hostile):
    """The process limit holds (for root too: the kernel runs as nobody) and the bomb's own
    kernel went on grading after it; the honest student after it is graded as before."""
    _, grades, _, _, _, _ = hostile
    g = grades["fork_bomb", "ex2-check"]
    assert (g.points, g.status) == (0, "failed"), g
    assert grades["fork_bomb", "ex4-check"].status == "passed"  # the kernel survived its own bomb
    assert grades["honest", "ex2-check"].status == "passed"


@needs_bwrap
def test_the_sandbox_command_hides_what_it_must(tmp_path):
    with sandbox_mod.Sandbox("require", data_dir=tmp_path, hidden=(ROOT,)) as box:
        cmd = box.command([sys.executable, "-c", "pass"], box.scratch())
        mounted = {cmd[i + 2] for i, a in enumerate(cmd) if a in ("--ro-bind", "--ro-bind-try", "--bind")}
        assert str(ROOT) not in mounted and str(ROOT / "notebooks") not in mounted
        assert ("--unshare-all" in cmd or {"--userns", "--unshare-pid", "--unshare-net"} <= set(" ".join(cmd).split()))
        assert "--die-with-parent" in cmd and "RLIMIT_NPROC" in " ".join(cmd)
        with pytest.raises(sandbox_mod.SandboxUnavailable, match="must hide"):
            sandbox_mod.Sandbox("require", hidden=(Path(sys.prefix),)).command([sys.executable], box.scratch())

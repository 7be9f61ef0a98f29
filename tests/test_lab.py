"""tools/lab.py (``make lab``): the root flag, the learner's JupyterLab settings, and one real
server on the workspace (its REST API answers, nbgrader's extensions are off, no warnings)."""
from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

spec = importlib.util.spec_from_file_location("lab", Path(__file__).parent.parent / "tools" / "lab.py")
lab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab)


def test_running_as_root():
    assert lab.running_as_root(lambda: 0)
    assert not lab.running_as_root(lambda: 1000)
    assert not lab.running_as_root(None)  # Windows has no os.geteuid


def test_server_flags():
    assert lab.server_flags([], as_root=True, curve=False) == ["--allow-root"]
    assert lab.server_flags(["--port", "8899"], as_root=False, curve=False) == ["--port", "8899"]
    # given by the user already: not twice
    assert lab.server_flags(["--allow-root", "--no-browser"], as_root=True, curve=False) == ["--allow-root", "--no-browser"]
    flags = lab.server_flags(["--no-browser"], as_root=True, curve=True)
    assert flags == ["--allow-root", "--KernelManager.transport_encryption=auto", "--no-browser"]


def test_lab_environment_puts_the_learner_config_first(tmp_path):
    env = lab.lab_environment({"HOME": "/h"}, tmp_path)
    assert env == {"HOME": "/h", "JUPYTER_CONFIG_PATH": str(tmp_path), "OMP_WAIT_POLICY": "PASSIVE"}
    env = lab.lab_environment({"JUPYTER_CONFIG_PATH": "/mine"}, tmp_path)
    assert env["JUPYTER_CONFIG_PATH"] == str(tmp_path) + os.pathsep + "/mine"


def test_lab_command_roots_the_server_in_the_workspace(tmp_path):
    cmd = lab.lab_command(tmp_path, ["--allow-root"], python="py")
    assert cmd == ["py", "-m", "jupyterlab", f"--ServerApp.root_dir={tmp_path}", "--allow-root"]


def _nbgrader_server_extensions() -> dict:
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    exts = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    return {k: v for k, v in exts.items() if k.startswith("nbgrader.")}


def test_learner_config_switches_nbgrader_off(monkeypatch):
    """What jupyter_server and JupyterLab read with the learner's folder on JUPYTER_CONFIG_PATH."""
    from jupyterlab_server.config import get_static_page_config

    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    # without it (an instructor's own `jupyter lab`), nbgrader's install switches them on
    on = _nbgrader_server_extensions()
    assert len(on) == 4 and all(on.values())
    assert "@jupyter/nbgrader" not in get_static_page_config().get("disabledExtensions", {})
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(lab.LEARNER_CONFIG))
    off = _nbgrader_server_extensions()
    assert off.keys() == on.keys() and not any(off.values())
    assert get_static_page_config()["disabledExtensions"].get("@jupyter/nbgrader") is True


def test_bad_update_name(tmp_path, capsys):
    assert lab.main(["--update", "99", "--workspace", str(tmp_path), "--no-launch"]) == 2
    assert "no course notebook called '99'" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_lab_on_the_workspace(tmp_path):
    ws = tmp_path / "my-notebooks"
    port = _free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_TOKEN="t0ken")
    proc = subprocess.Popen([sys.executable, str(lab.ROOT / "tools" / "lab.py"), "--workspace", str(ws), "--",
                             "--no-browser", f"--port={port}", "--ServerApp.port_retries=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        status = None
        for _ in range(120):
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=t0ken", timeout=5) as r:
                    status = r.status
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=t0ken", timeout=5) as r:
                    listing = r.read().decode()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=t0ken", timeout=5) as r:
                    page = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
        assert status == 200
        assert "00_setup_and_tour.ipynb" in listing and '"solutions"' in listing
        assert re.search(r'"disabledExtensions": \[[^\]]*"@jupyter/nbgrader"', page)
    finally:
        proc.terminate()
        log = proc.communicate(timeout=30)[0]
    assert f"Serving notebooks from local directory: {ws}" in log
    assert "No nbgrader_config.py" not in log and "nbgrader" not in log.split("+ ", 1)[1].split("\n", 1)[1]
    assert "Running as root" not in log


def test_lab_kernels_wait_passively_unless_the_shell_says_otherwise(tmp_path):
    assert lab.lab_environment({}, tmp_path)["OMP_WAIT_POLICY"] == "PASSIVE"
    assert lab.lab_environment({"OMP_WAIT_POLICY": "ACTIVE"}, tmp_path)["OMP_WAIT_POLICY"] == "ACTIVE"

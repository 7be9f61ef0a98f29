"""tools/setup_venv.py: pip's package sources handed to uv, the venv layout per platform, the torch
route (CPU index, default wheels, the fallback), with every installer and probe faked."""
import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("setup_venv", Path(__file__).parent.parent / "tools" / "setup_venv.py")
setup_venv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(setup_venv)


def test_pip_sources_from_files_and_environment():
    config = "\n".join([
        ":env:.disable-pip-version-check='1'",
        ":env:.find-links='/opt/wheels'",
        "global.cert='/etc/ssl/certs/ca-certificates.crt'",
        "global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'",
        "global.find-links='/opt/wheels'",
        "user.index-url='https://mirror.example/simple'",
    ])
    assert setup_venv.pip_sources(config) == [
        "--find-links", "/opt/wheels",
        "--extra-index-url", "file:///opt/pypi/simple",
        "--extra-index-url", "file:///opt/pypi-more/simple",
        "--index-url", "https://mirror.example/simple",
    ]


def test_pip_sources_ignores_other_keys_and_empty_values():
    assert setup_venv.pip_sources("global.timeout='60'\nglobal.find-links=''\nnot a config line\n") == []


# --- per-platform layout --------------------------------------------------------------

def test_env_python_per_platform(tmp_path):
    assert setup_venv.env_python(tmp_path, "linux") == tmp_path / "bin" / "python"
    assert setup_venv.env_python(tmp_path, "darwin") == tmp_path / "bin" / "python"
    # a Windows venv keeps its interpreter in Scripts\\
    assert setup_venv.env_python(tmp_path, "win32") == tmp_path / "Scripts" / "python.exe"
    assert setup_venv.env_scripts(tmp_path, "win32") == tmp_path / "Scripts"
    assert setup_venv.env_scripts(tmp_path, "darwin") == tmp_path / "bin"
    assert setup_venv.exe("uv", "win32") == "uv.exe" and setup_venv.exe("uv", "linux") == "uv"
    # a Windows conda environment has python.exe at its root
    (tmp_path / "python.exe").write_text("")
    assert setup_venv.env_python(tmp_path, "win32") == tmp_path / "python.exe"


def test_main_creates_the_venv_with_the_windows_layout(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, check=True):
        calls.append([str(c) for c in cmd])
        if cmd[1:3] == ["-m", "venv"]:  # what python -m venv makes on Windows
            (tmp_path / "env" / "Scripts").mkdir(parents=True)
            (tmp_path / "env" / "Scripts" / "python.exe").write_text("")
        return setup_venv.subprocess.CompletedProcess(cmd, 0)

    installs = []

    class FakeInstaller:
        def __init__(self, py, use_pip):
            self.py = py

        def install(self, args, extra_index=None):
            installs.append((self.py, [str(a) for a in args], extra_index))
            return True

    monkeypatch.setattr(setup_venv, "run", fake_run)
    monkeypatch.setattr(setup_venv, "Installer", FakeInstaller)
    monkeypatch.setattr(setup_venv, "installed_torch", lambda py: "2.14.1")
    monkeypatch.setattr(setup_venv.subprocess, "run", lambda *a, **k: setup_venv.subprocess.CompletedProcess(a, 0))
    assert setup_venv.main(["--venv", str(tmp_path / "env")], platform="win32") == 0
    py = tmp_path / "env" / "Scripts" / "python.exe"
    assert calls[0][1:] == ["-m", "venv", str(tmp_path / "env")]
    # Windows: the registry's default (CPU) wheels, no PyTorch index; the pins into Scripts\\python.exe
    assert installs == [(py, ["-r", str(setup_venv.ROOT / "requirements.txt")], None)]
    assert calls[-1][:3] == [str(py), "-m", "pip"] and calls[-1][-2:] == ["-e", str(setup_venv.ROOT)]


# --- route ----------------------------------------------------------------------------

def no_gpu():
    return False


def gpu():
    return True


def test_route_auto_per_platform():
    assert setup_venv.choose_route("auto", "linux", no_gpu)[0] == "cpu-index"
    assert setup_venv.choose_route("auto", "linux", gpu)[0] == "default"
    route, why = setup_venv.choose_route("auto", "darwin", gpu)
    assert route == "default" and "on macOS" in why and "CPU/MPS" in why
    route, why = setup_venv.choose_route("auto", "win32", no_gpu)
    assert route == "default" and "Windows" in why


def test_route_explicit_switch():
    assert setup_venv.choose_route("cpu", "linux", gpu)[0] == "cpu-index"
    assert setup_venv.choose_route("cuda", "linux", no_gpu)[0] == "default"
    assert setup_venv.choose_route("cpu", "darwin", no_gpu)[0] == "default"
    route, why = setup_venv.choose_route("cuda", "win32", no_gpu)
    assert route == "default" and "pytorch.org" in why
    with pytest.raises(ValueError, match="--torch"):
        setup_venv.choose_route("rocm", "linux", no_gpu)


def test_gpu_detection(tmp_path):
    gpus = tmp_path / "gpus"
    none = lambda name: None  # noqa: E731
    assert not setup_venv.nvidia_gpu_present(which=none, gpus_dir=gpus)
    gpus.mkdir()
    assert not setup_venv.nvidia_gpu_present(which=none, gpus_dir=gpus)
    (gpus / "0000:01:00.0").mkdir()
    assert setup_venv.nvidia_gpu_present(which=none, gpus_dir=gpus)

    def smi(output, rc=0):
        return lambda cmd, **kw: setup_venv.subprocess.CompletedProcess(cmd, rc, stdout=output)

    found = lambda name: "/usr/bin/nvidia-smi"  # noqa: E731
    empty = tmp_path / "none"
    assert setup_venv.nvidia_gpu_present(found, empty, smi("GPU 0: NVIDIA H200 (UUID: GPU-1)\n"))
    assert not setup_venv.nvidia_gpu_present(found, empty, smi("", rc=9))  # driver without a GPU

    def broken(cmd, **kw):
        raise OSError("no such file")
    assert not setup_venv.nvidia_gpu_present(found, empty, broken)


def test_index_probe():
    class Response:
        status = 200

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    seen = []

    def ok(url, timeout):
        seen.append(url)
        return Response()

    def offline(url, timeout):
        raise setup_venv.urllib.error.URLError("Name or service not known")

    assert setup_venv.index_reachable(opener=ok) and seen == [setup_venv.CPU_INDEX + "/torch/"]
    assert not setup_venv.index_reachable(opener=offline)


def test_torch_pins_read_from_requirements(tmp_path):
    req = tmp_path / "r.txt"
    req.write_text("# torch pair\ntorch==2.14.1  # matched\ntorchvision==0.29.1\nnumpy==2.4.6\ntorchaudio-x==1\n")
    assert setup_venv.torch_pins(req) == ["torch==2.14.1", "torchvision==0.29.1"]
    assert len(setup_venv.torch_pins(setup_venv.ROOT / "requirements.txt")) == 2


class RecordingInstaller:
    """An Installer stand-in: which torch a fake environment holds, what was asked."""

    def __init__(self, torch=None, index_gives="2.14.1+cpu", succeeds=True):
        self.py = Path("env/bin/python")
        self.torch, self.index_gives, self.succeeds = torch, index_gives, succeeds
        self.log = []

    def install(self, args, extra_index=None):
        self.log.append(("install", list(args), extra_index))
        if self.succeeds:
            self.torch = self.index_gives
        return self.succeeds

    def uninstall(self, names):
        self.log.append(("uninstall", names))
        self.torch = None


@pytest.fixture
def fake_env(monkeypatch):
    def use(installer):
        monkeypatch.setattr(setup_venv, "installed_torch", lambda py: installer.torch)
        return installer
    return use


def test_cpu_route_from_pytorch_index(fake_env, capsys):
    inst = fake_env(RecordingInstaller())
    req = setup_venv.ROOT / "requirements.txt"
    assert setup_venv.install_torch(inst, "cpu-index", req, reachable=lambda: True) == "cpu-index"
    assert inst.log == [("install", setup_venv.torch_pins(req), setup_venv.CPU_INDEX)]
    assert capsys.readouterr().out == ""


def test_cpu_route_falls_back_when_the_index_cannot_be_reached(fake_env, capsys):
    inst = fake_env(RecordingInstaller())
    taken = setup_venv.install_torch(inst, "cpu-index", setup_venv.ROOT / "requirements.txt", reachable=lambda: False)
    assert taken == "default" and inst.log == []  # the requirements step installs the default wheels
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "cannot be reached" in out[0] and "default" in out[0]


@pytest.mark.parametrize("gives, succeeds", [("2.14.1", True), (None, False)])
def test_cpu_route_falls_back_when_the_index_has_no_cpu_build(fake_env, capsys, gives, succeeds):
    inst = fake_env(RecordingInstaller(index_gives=gives, succeeds=succeeds))
    assert setup_venv.install_torch(inst, "cpu-index", setup_venv.ROOT / "requirements.txt",
                                    reachable=lambda: True) == "default"
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "did not give a CPU build" in out[0]


def test_switching_builds_uninstalls_the_other_one(fake_env):
    req = setup_venv.ROOT / "requirements.txt"
    inst = fake_env(RecordingInstaller(torch="2.14.1"))  # the CUDA build is there; CPU asked
    assert setup_venv.install_torch(inst, "cpu-index", req, reachable=lambda: True) == "cpu-index"
    assert inst.log[0] == ("uninstall", setup_venv.TORCH_PACKAGES) and inst.torch == "2.14.1+cpu"
    inst = fake_env(RecordingInstaller(torch="2.14.1+cpu"))  # the CPU build is there; CUDA asked
    assert setup_venv.install_torch(inst, "default", req) == "default"
    assert inst.log == [("uninstall", setup_venv.TORCH_PACKAGES)]
    inst = fake_env(RecordingInstaller(torch="2.14.1+cpu"))  # nothing to change
    assert setup_venv.install_torch(inst, "cpu-index", req, reachable=lambda: True) == "cpu-index"
    assert [entry[0] for entry in inst.log] == ["install"]


def test_cpu_build_label():
    assert setup_venv.is_cpu_build("2.14.1+cpu")
    assert not setup_venv.is_cpu_build("2.14.1") and not setup_venv.is_cpu_build(None)


def test_main_states_the_route_in_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    monkeypatch.setattr(setup_venv, "run", lambda cmd, check=True: setup_venv.subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(setup_venv, "nvidia_gpu_present", no_gpu)
    monkeypatch.setattr(setup_venv, "index_reachable", lambda: False)
    inst = RecordingInstaller()
    monkeypatch.setattr(setup_venv, "Installer", lambda py, use_pip: inst)
    monkeypatch.setattr(setup_venv, "installed_torch", lambda py: "2.14.1")
    monkeypatch.setattr(setup_venv.subprocess, "run", lambda *a, **k: setup_venv.subprocess.CompletedProcess(a, 0))
    assert setup_venv.main(["--venv", str(tmp_path)], platform="linux") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("setup: ")]
    assert lines[0] == "setup: torch: the CPU-only build from PyTorch's index, no NVIDIA GPU found (--torch cuda for the CUDA build)"
    assert "cannot be reached" in lines[1]
    assert lines[-1].startswith("setup: done: torch 2.14.1 (registry default)")

"""tools/setup_venv.py hands pip's package sources to uv."""
import importlib.util
from pathlib import Path

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

"""tools/bench.py: seconds per notebook from pytest's JUnit XML."""
import importlib.util

import pytest
from pathlib import Path

spec = importlib.util.spec_from_file_location("bench", Path(__file__).parent.parent / "tools" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_notebook_seconds_sums_cells_per_notebook(tmp_path):
    xml = tmp_path / "nbval.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        '<testcase classname="notebooks.00_setup_and_tour.ipynb" name="Cell 0" time="11.5" />'
        '<testcase classname="notebooks.00_setup_and_tour.ipynb" name="Cell 1" time="0.25" />'
        '<testcase classname="notebooks.10_resnet.ipynb" name="Cell 0" time="2.0" />'
        '<testcase classname="tests.test_train" name="test_fit" time="9.0" />'
        '</testsuite></testsuites>')
    assert bench.notebook_seconds(xml) == {"00_setup_and_tour": 11.75, "10_resnet": 2.0}


def test_notebook_failures_names_each_failing_cell(tmp_path):
    xml = tmp_path / "nbval.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        '<testcase classname="notebooks.00_setup_and_tour.ipynb" name="Cell 0" time="1" />'
        '<testcase classname="notebooks.05_lenet_mnist.ipynb" name="Cell 3" time="1"><failure message="x"/></testcase>'
        '<testcase classname="notebooks.05_lenet_mnist.ipynb" name="Cell 4" time="1"><error message="y"/></testcase>'
        '<testcase classname="tests.test_train" name="test_fit" time="1"><failure message="z"/></testcase>'
        '</testsuite></testsuites>')
    assert bench.notebook_failures(xml) == {"05_lenet_mnist": ["Cell 3", "Cell 4"]}
    assert bench.notebook_failures(tmp_path / "absent.xml") == {}


def test_missing_datasets(tmp_path):
    assert bench.missing_datasets(tmp_path) == ["MNIST", "FashionMNIST"]
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert bench.missing_datasets(tmp_path) == ["FashionMNIST"]


def test_bench_refuses_to_run_without_datasets(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    monkeypatch.setattr(bench, "bench_notebooks", lambda repeat: pytest.fail("ran without data"))
    assert bench.main(["--only", "notebooks", "--out", str(tmp_path / "out")]) == 2
    assert "MNIST, FashionMNIST not found" in capsys.readouterr().err


def test_bench_exits_nonzero_and_names_the_failed_notebook(tmp_path, monkeypatch, capsys):
    for d in ("MNIST", "FashionMNIST"):
        (tmp_path / d / "raw").mkdir(parents=True)
        (tmp_path / d / "raw" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))

    def fake_run(paths, tmp):  # one run fails in notebook 05's cell 3
        return 1.0, {"05_lenet_mnist": 1.0}, {}, 1, {"05_lenet_mnist": ["Cell 3"]}

    monkeypatch.setattr(bench, "run_notebooks_nbval", fake_run)
    assert bench.main(["--only", "notebooks", "--repeat", "1", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "1 notebook run(s) FAILED" in err and "05_lenet_mnist: Cell 3" in err

    monkeypatch.setattr(bench, "run_notebooks_nbval", lambda paths, tmp: (1.0, {"05_lenet_mnist": 1.0}, {}, 0, {}))
    assert bench.main(["--only", "notebooks", "--repeat", "1", "--out", str(tmp_path / "out")]) == 0

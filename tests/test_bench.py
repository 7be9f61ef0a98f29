"""tools/bench.py: seconds per notebook from pytest's JUnit XML."""
import importlib.util
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

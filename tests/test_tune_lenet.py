"""tools/tune_lenet.py: it scores every candidate on the validation split, never loads the
test split, and picks the highest mean validation accuracy."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("tune_lenet", Path(__file__).parent.parent / "tools" / "tune_lenet.py")
tune = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tune)


def test_quick_run_never_reads_the_test_split_and_picks_the_best(tmp_path, monkeypatch):
    real = tune.load_dataset
    splits = []

    def guarded(name, split="train", *args, **kwargs):
        splits.append(split)
        if split != "train":
            raise AssertionError(f"tune_lenet read the {split} split")
        return real(name, split, *args, **kwargs)

    monkeypatch.setattr(tune, "load_dataset", guarded)
    try:
        guarded("mnist", "train", n=1)
    except Exception as err:  # no MNIST here
        pytest.skip(f"MNIST not available: {err}")
    out = tmp_path / "lenet.json"
    assert tune.main(["--quick", "--out", str(out)]) == 0
    assert set(splits) == {"train"}
    res = json.loads(out.read_text())
    assert set(res["candidates"]) == set(tune.CANDIDATES)
    means = {k: sum(v["values"]) / len(v["values"]) for k, v in res["candidates"].items()}
    assert res["chosen"] == max(means, key=means.get)
    assert all(0.1 < m <= 1.0 for m in means.values())   # every candidate learned something


def test_notebook_05_trains_with_the_chosen_recipe():
    """Notebook 05's constants are the recipe tune_lenet chose (and the bench reads CHOSEN)."""
    source = json.loads((Path(__file__).parent.parent / "notebooks" / "05_lenet_mnist.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in source["cells"] if c["cell_type"] == "code")
    m = re.search(r"^EPOCHS, LR, BATCH, SMOOTHING = (\S+), (\S+), (\S+), (\S+)", code, re.M)
    assert m, "notebook 05 no longer sets EPOCHS, LR, BATCH, SMOOTHING in one line"
    assert tune.CHOSEN in tune.CANDIDATES
    lr, smoothing = tune.CANDIDATES[tune.CHOSEN]
    assert (int(m[1]), float(m[2]), int(m[3]), float(m[4])) == (tune.EPOCHS, lr, tune.BATCH, smoothing)

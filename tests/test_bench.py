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


# ----------------------------------------------------------------- peers, figures, report

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
from peers import cs231n_conv, d2l_train  # noqa: E402


@pytest.mark.parametrize("xs, ws, stride, pad", [((3, 2, 9, 8), (4, 2, 3, 3), 1, 1), ((2, 3, 11, 11), (5, 3, 5, 5), 2, 2),
                                                 ((2, 1, 7, 7), (6, 1, 5, 5), 1, 0)])
def test_cs231n_peer_matches_torch_conv2d_and_autograd(xs, ws, stride, pad):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out, cache = cs231n_conv.conv_forward_strides(x, w, b, stride, pad)
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ref = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    ref.backward(torch.from_numpy(dout))
    for ours, theirs in zip((out, *cs231n_conv.conv_backward_strides(dout, cache)), (ref, tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_cs231n_peer_keeps_float32():
    x, w, b = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32), np.zeros(3, np.float32)
    out, cache = cs231n_conv.conv_forward_strides(x, w, b, 1, 1)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in cs231n_conv.conv_backward_strides(out, cache))


def test_d2l_accuracy_counts_and_accumulator_sums():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert d2l_train.accuracy(logits, torch.tensor([1, 1, 1])) == 2.0  # a count, as in d2l
    acc = d2l_train.Accumulator(2)
    acc.add(1, torch.tensor(2.5))
    acc.add(3, 0.5)
    assert (acc[0], acc[1]) == (4.0, 3.0)


def test_d2l_loop_trains_and_reports_validation_accuracy():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    net = torch.nn.Linear(4, 2)
    res = d2l_train.train_ch6(net, loader, loader, 5, torch.optim.SGD(net.parameters(), lr=0.5))
    assert len(res["epoch_seconds"]) == len(res["val_acc"]) == 5
    assert res["train_loss"][-1] < res["train_loss"][0] and res["val_acc"][-1] > 0.8
    manual = ((net(x).argmax(1) == y).float().mean()).item()
    assert res["val_acc"][-1] == pytest.approx(manual)


def test_interleaved_runs_each_function_in_rounds_of_rotating_order():
    calls = []
    runs = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=2, n=2)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] + ["b", "b", "a", "a"]  # warm-up, then A B, B A
    assert len(runs["a"]) == len(runs["b"]) == 2
    assert bench.ratios([2.0, 3.0], [1.0, 6.0]) == [2.0, 0.5]


def test_train_step_flops_match_the_layer_formula():
    from cnnlib.models.lenet import LeNet

    # forward multiply-adds of LeNet per image (conv1 6x28x28x25, conv2 16x10x10x150, fc 400x120 + 120x84 + 84x10),
    # backward twice the forward except conv1's input gradient (the image needs none)
    conv1, conv2, fc = 6 * 28 * 28 * 25, 16 * 10 * 10 * 150, 400 * 120 + 120 * 84 + 84 * 10
    expected = 2 * (3 * (conv1 + conv2 + fc) - conv1)
    assert bench.train_step_flops(LeNet(), batch=4) == pytest.approx(expected)


def fake_results() -> dict:
    s = lambda v: bench.stats([v])  # noqa: E731
    conv = {"numpy_s": s(0.02), "cs231n_s": s(0.03), "torch_s": s(0.01), "ratio": s(2.0), "ratio_cs231n": s(0.6)}
    return {
        "machine": {"cpus": 2, "processor": "x86_64"}, "versions": {"torch": "2.14.1"},
        "conv": {"LeNet conv1": conv, "_threads": {"torch": 2}},
        "pipeline": {"ratio": s(0.25), "project_s": s(5.0), "d2l_s": s(20.0), "project_acc": s(0.98), "d2l_acc": s(0.97),
                     "flop_fraction": s(0.3), "lenet_flops": s(15e9), "mm_flops": s(50e9), "threads": 1, "epochs": 1,
                     "n_train": 55000, "n_val": 5000, "batch": 128, "flops_per_image": 2.26e6},
        "threads": {"lenet": {"n": 20000, "epochs": 1, "quiet": {"1": s(4.0), "2": s(4.1), "ratio_2_1": s(1.02)},
                              "loaded": {"1": s(7.0), "2": s(14.0), "ratio_2_1": s(2.0)},
                              "load_factor_1": 1.75, "load_factor_2": 3.41}},
    }


def test_every_new_figure_has_a_row_with_its_target_and_verdict():
    rows = {fig: (meas, target, met) for fig, meas, target, met in bench.rows(fake_results())}
    conv = [r for f, r in rows.items() if "F.conv2d" in f]
    assert conv == [("2.00 x (2.00-2.00) (20.0 vs 10.0 ms, 2 torch threads)", "<= 1.5x", "NO")]
    assert [r[2] for f, r in rows.items() if "CS231n" in f] == ["yes"]
    assert [r[1:] for f, r in rows.items() if "d2l seconds per epoch" in f] == [("<= 0.3x", "yes")]
    assert [r[1:] for f, r in rows.items() if "FLOP/s" in f] == [(">= 40%", "NO")]
    assert any("98.00 %" in r[0] and "97.00 %" in r[0] for f, r in rows.items() if "validation accuracy" in f)
    threads = {f: r[2] for f, r in rows.items() if f.startswith("lenet with fit")}
    assert list(threads.values()) == ["yes", "NO", "yes", "NO"]


def test_readme_table_comes_from_results_json(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps(fake_results()))
    assert bench.main(["--readme", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert "| figure | measured | target | met |" in lines
    assert len([ln for ln in lines if ln.startswith("| ")]) == 1 + len(bench.rows(fake_results()))
    # the README says which targets are missed, as the bench's own table does
    assert "| <= 0.3x | yes |" in table and "| >= 40% | NO |" in table
    assert bench.main(["--readme", str(tmp_path / "absent.json")]) == 2


def test_background_load_runs_while_open_and_is_stopped(monkeypatch):
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    with bench.BackgroundLoad() as load:
        assert load.proc.poll() is None
    assert load.proc.poll() is not None


def test_background_load_spins_as_a_plain_pytorch_job(monkeypatch):
    """The load keeps OpenMP's default wait policy even where cnnlib set PASSIVE here."""
    seen = {}

    class FakeProc:
        def poll(self):
            return None

        def terminate(self):
            pass

        def wait(self, timeout=None):
            return 0

    def fake_popen(cmd, **kw):
        seen.update(kw)
        return FakeProc()

    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    monkeypatch.setattr(bench.subprocess, "Popen", fake_popen)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    with bench.BackgroundLoad():
        pass
    assert "OMP_WAIT_POLICY" not in seen["env"]


def test_nbval_args_without_make_match_the_makefile(monkeypatch):
    """Run without make, the bench reads the Makefile's NBVAL and NBVAL_PARALLEL lines, so it
    times the same (parallel) command as `make test-notebooks`."""
    monkeypatch.delenv("NBVAL_ARGS", raising=False)
    monkeypatch.delenv("NBVAL_WORKERS", raising=False)
    makefile = (bench.ROOT / "Makefile").read_text()
    args = bench.nbval_args()
    assert "--nbval" in args and args[args.index("-n") + 1] == "2" and "loadscope" in args
    assert "NBVAL_WORKERS ?= 2" in makefile
    monkeypatch.setenv("NBVAL_WORKERS", "1")
    assert bench.nbval_args()[bench.nbval_args().index("-n") + 1] == "1"
    monkeypatch.setenv("NBVAL_ARGS", "--nbval -q")
    assert bench.nbval_args() == ["--nbval", "-q"]


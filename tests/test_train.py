"""cnnlib.train: seeding, device, fit/evaluate/predict, accuracy, confusion matrix."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

from cnnlib.data import TensorLoader
from cnnlib.train import (History, Timer, accuracy, confusion_matrix, evaluate, fit, get_device, predict,
                          seed_everything)


def _toy(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def test_seed_everything_repeats_random_streams():
    seed_everything(5)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(5)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert torch.are_deterministic_algorithms_enabled()
    seed_everything(5, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


@pytest.mark.parametrize("compiler_loaded", [False, True])
def test_seed_everything_sets_the_same_switch_as_the_public_api(compiler_loaded, monkeypatch):
    """Without torch.compile's config loaded, seed_everything flips torch's switch directly
    (importing the config costs 1.5 s); with it loaded, it calls the public function, which
    also makes the compiler deterministic. Either way torch reports the same state."""
    import sys

    if compiler_loaded:
        import torch._inductor.config as inductor_config
    else:
        monkeypatch.delitem(sys.modules, "torch._inductor.config", raising=False)
    try:
        for mode in (True, False, True):
            seed_everything(0, deterministic=mode)
            assert torch.are_deterministic_algorithms_enabled() is mode
            assert torch.is_deterministic_algorithms_warn_only_enabled()   # warn, never raise
            if compiler_loaded:
                assert inductor_config.deterministic is mode
    finally:
        seed_everything(0)


def test_get_device():
    mps = getattr(torch.backends, "mps", None)
    expected = ("cuda" if torch.cuda.is_available() else
                "mps" if mps is not None and mps.is_available() else "cpu")
    assert get_device().type == expected
    assert get_device("cpu").type == "cpu"


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"),    # CUDA first, also on a machine that has both
    (True, False, "cuda"),
    (False, True, "mps"),    # a Mac: Apple's GPU before the CPU
    (False, False, "cpu"),
])
def test_get_device_order_cuda_mps_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert get_device().type == expected
    assert get_device("cpu").type == "cpu"   # an explicit choice wins


def test_fit_calls_on_epoch_start_before_each_epoch():
    x, y = _toy(64)
    seen = []

    class Recorder(TensorLoader):   # records which epoch the loader was told before it is iterated
        def __iter__(self):
            seen.append(("iter", len(seen)))
            return super().__iter__()

    model = nn.Linear(2, 2)
    fit(model, Recorder(x, y, 32), epochs=3, optimizer=torch.optim.SGD(model.parameters(), 0.1),
        device="cpu", progress=False, on_epoch_start=lambda e: seen.append(("start", e)))
    assert [s for s in seen if s[0] == "start"] == [("start", 1), ("start", 2), ("start", 3)]
    assert [kind for kind, _ in seen] == ["start", "iter"] * 3     # the hook runs before each pass
    with pytest.raises(TypeError, match="on_epoch_start"):
        fit(model, Recorder(x, y, 32), epochs=1, optimizer=torch.optim.SGD(model.parameters(), 0.1),
            on_epoch_start=3)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 30), k=st.integers(2, 6), seed=st.integers(0, 1000))
def test_accuracy_and_confusion_matrix_against_numpy(n, k, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g)
    labels = torch.randint(0, k, (n,), generator=g)
    pred = logits.argmax(1)
    assert math.isclose(accuracy(logits, labels), float(np.mean(pred.numpy() == labels.numpy())), abs_tol=1e-6)
    cm = confusion_matrix(pred, labels, k)
    ref = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(labels.tolist(), pred.tolist()):
        ref[t, p] += 1
    assert np.array_equal(cm.numpy(), ref)
    assert cm.trace().item() == int((pred == labels).sum())


def test_accuracy_and_confusion_errors():
    with pytest.raises(ValueError, match="logits"):
        accuracy(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        accuracy(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    L = torch.long
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(torch.zeros(3, dtype=L), torch.zeros(4, dtype=L), 2)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(torch.zeros(3, dtype=L), torch.zeros(3, dtype=L), 0)


@pytest.mark.parametrize("preds, labels, exc, match", [
    (torch.tensor([0, 3]), torch.tensor([0, 1]), ValueError, r"preds must lie in 0..2 .*\[0, 3\]"),
    (torch.tensor([0, 1]), torch.tensor([-1, 1]), ValueError, r"labels must lie in 0..2"),
    (torch.tensor([0.7, 1.2]), torch.tensor([0, 1]), TypeError, "preds must hold integer class indices"),
    (torch.tensor([True, False]), torch.tensor([0, 1]), TypeError, "preds must hold integer"),
    (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, dtype=torch.long), ValueError, r"preds must have shape \(N,\)"),
    ([0, 1], torch.tensor([0, 1]), TypeError, "preds must be a torch.Tensor"),
])
def test_confusion_matrix_refuses_what_it_would_miscount(preds, labels, exc, match):
    with pytest.raises(exc, match=match):
        confusion_matrix(preds, labels, 3)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 50), k=st.integers(1, 6), bad=st.integers(1, 5), seed=st.integers(0, 1000))
def test_confusion_matrix_never_silently_drops_or_moves_counts(n, k, bad, seed):
    """Either every prediction is counted once where it belongs, or the call fails."""
    g = torch.Generator().manual_seed(seed)
    preds = torch.randint(0, k + bad, (n,), generator=g)
    labels = torch.randint(0, k, (n,), generator=g)
    if int(preds.max()) >= k:
        with pytest.raises(ValueError, match="preds must lie in"):
            confusion_matrix(preds, labels, k)
    else:
        cm = confusion_matrix(preds, labels, k)
        assert int(cm.sum()) == n and all(int(cm[t, q]) >= 1 for t, q in zip(labels.tolist(), preds.tolist()))


def test_fit_and_evaluate_on_an_empty_loader_say_so():
    model = nn.Linear(2, 2)
    empty = TensorLoader(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="loader yielded no batches"):
        evaluate(model, empty)
    with pytest.raises(ValueError, match="loader yielded no batches"):
        fit(model, empty, 1, torch.optim.SGD(model.parameters(), 0.1), progress=False)
    short = TensorLoader(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match="drop_last"):
        evaluate(model, short)


def test_evaluate_and_predict_a_model_without_parameters():
    model = nn.Flatten()
    loader = TensorLoader(torch.eye(3), torch.arange(3))
    loss, acc = evaluate(model, loader)
    assert acc == 1.0 and loss == pytest.approx(F.cross_entropy(torch.eye(3), torch.arange(3)).item())
    preds, labels = predict(model, loader)
    assert preds.tolist() == labels.tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        evaluate(lambda x: x, loader)


@pytest.mark.parametrize("value", ["no", None, 2, 0.0])
def test_seed_everything_checks_deterministic_before_seeding(value):
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    with pytest.raises(TypeError, match="deterministic must be True or False"):
        seed_everything(7, deterministic=value)
    assert torch.rand(1) == expected  # torch's generator was not reseeded


def test_fit_learns_a_separable_problem_and_is_reproducible(capsys):
    x, y = _toy()
    runs = []
    for _ in range(2):
        seed_everything(0)
        model = nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
        hist = fit(model, TensorLoader(x, y, 32, shuffle=True), epochs=3, optimizer=opt, scheduler=sched,
                   val_loader=TensorLoader(x, y, 64), device="cpu")
        runs.append(hist)
    assert runs[0].train_loss == runs[1].train_loss
    h = runs[0]
    assert isinstance(h, History) and len(h.train_loss) == len(h.val_metric) == len(h.epoch_time) == 3
    assert h.val_metric[-1] > 0.9 and h.train_loss[-1] < h.train_loss[0]
    assert h.lr[0] == 0.5 and h.lr[1] < 0.5  # the scheduler steps every batch
    assert h.total_time == pytest.approx(sum(h.epoch_time))
    out = capsys.readouterr().out
    assert "epoch 3/3: train loss" in out and "val acc" in out


def test_fit_regression_without_metric_and_quiet(capsys):
    x = torch.randn(64, 3)
    model = nn.Linear(3, 3)
    hist = fit(model, TensorLoader(x, x, 16), epochs=2, optimizer=torch.optim.Adam(model.parameters(), 1e-2),
               loss_fn=F.mse_loss, metric=None, val_loader=TensorLoader(x, x, 64), progress=False)
    assert all(math.isnan(m) for m in hist.train_metric + hist.val_metric)
    assert capsys.readouterr().out == ""
    loss, metric = evaluate(model, TensorLoader(x, x, 64), F.mse_loss, None)
    assert loss == pytest.approx(hist.val_loss[-1]) and math.isnan(metric)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, TensorLoader(x, x, 16), epochs=0, optimizer=torch.optim.SGD(model.parameters(), 0.1))


def test_evaluate_and_predict_agree_with_manual_computation():
    x, y = _toy(100)
    model = nn.Linear(2, 2)
    loss, acc = evaluate(model, TensorLoader(x, y, 33))
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx(accuracy(logits, y), abs=1e-6)
    pred, labels = predict(model, TensorLoader(x, y, 33))
    assert torch.equal(pred, logits.argmax(1)) and torch.equal(labels, y)
    assert not model.training  # evaluation leaves the model in eval mode


def test_timer():
    with Timer() as t:
        sum(range(1000))
    assert t.seconds >= 0


class _FakeStream:
    """A stderr stand-in: a terminal or not, recording what is written."""

    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s
        return len(s)

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [False, True])
def test_progress_bar_only_in_a_terminal(tty, monkeypatch, capsys):
    # in a notebook (stderr not a terminal) a bar would leave an empty stderr output per
    # epoch: none is drawn there, only the epoch lines on stdout
    fake = _FakeStream(tty)
    monkeypatch.setattr("sys.stderr", fake)
    x, y = _toy()
    seed_everything(0)
    model = nn.Linear(2, 2)
    fit(model, TensorLoader(x, y, 32, shuffle=True), 2, torch.optim.SGD(model.parameters(), lr=0.1))
    out = capsys.readouterr().out
    assert out.count("epoch ") == 2 and "epoch 2/2: train loss" in out
    if tty:
        assert "epoch 1/2:" in fake.text and "epoch 2/2:" in fake.text and "/8 [" in fake.text
    else:
        assert fake.text == ""


def test_stderr_without_isatty(monkeypatch):
    from cnnlib import train

    monkeypatch.setattr("sys.stderr", None)
    assert train._stderr_is_terminal() is False

"""cnnlib.train's thread rule: threads_for, usable_cores, and fit applying and undoing it."""
from __future__ import annotations

import io

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlib import train
from cnnlib.data import TensorLoader
from cnnlib.models.lenet import LeNet
from cnnlib.train import PARALLEL_MIN_FLOPS, fit, threads_for, usable_cores


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def big_model() -> nn.Module:
    """Forward FLOPs per batch of 128 16x16 images: 2.6e9, above PARALLEL_MIN_FLOPS (1e9)."""
    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                         nn.Flatten(), nn.Linear(64 * 16 * 16, 10))


@pytest.mark.parametrize("model, shape", [
    (LeNet(), (128, 1, 28, 28)),
    (big_model(), (8, 3, 16, 16)),
    (nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.Flatten(), nn.Linear(6 * 7 * 7, 5)), (5, 4, 15, 15)),
])
def test_forward_flops_match_torch_flop_counter(model, shape):
    x = torch.rand(shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x)
    model.train()
    assert train._forward_flops(model, x) == pytest.approx(counter.get_total_flops(), rel=1e-6)
    assert model.training  # mode restored


def test_lenet_trains_on_one_thread_whatever_was_asked():
    x = torch.rand(128, 1, 28, 28)
    assert train._forward_flops(LeNet(), x) < PARALLEL_MIN_FLOPS
    for requested in (1, 2, 8):
        assert threads_for(LeNet(), x, requested) == 1


def test_big_work_gets_the_usable_cores_but_never_more_than_requested(monkeypatch):
    x = torch.rand(128, 3, 16, 16)
    assert train._forward_flops(big_model(), x) >= PARALLEL_MIN_FLOPS
    monkeypatch.setattr(train, "usable_cores", lambda: 2)
    assert threads_for(big_model(), x, 4) == 2
    assert threads_for(big_model(), x, 1) == 1
    torch.set_num_threads(3)
    monkeypatch.setattr(train, "usable_cores", lambda: 16)
    assert threads_for(big_model(), x) == 3  # default: torch's current count


def test_the_count_does_not_follow_the_load(monkeypatch):
    """A busy machine must not change the count: the count changes the numbers."""
    x = torch.rand(128, 3, 16, 16)
    monkeypatch.setattr(train, "usable_cores", lambda: 2)
    monkeypatch.setattr(train, "open", lambda *a, **k: io.StringIO("9.0 9.0 9.0 12/150 99\n"), raising=False)
    monkeypatch.setattr(train.os, "getloadavg", lambda: (9.0, 9.0, 9.0), raising=False)
    assert threads_for(big_model(), x, 2) == 2


def test_threads_for_draws_no_random_numbers_and_keeps_batch_norm_statistics():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 26 * 26, 3))
    stats, x = model[1].running_mean.clone(), torch.rand(16, 1, 28, 28)
    state = torch.get_rng_state()
    threads_for(model, x, 2)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(model[1].running_mean, stats) and model[1].num_batches_tracked == 0


def test_threads_for_leaves_models_it_cannot_run_alone():
    class TwoInputs(nn.Module):
        def forward(self, a, b):
            return a + b

    assert threads_for(TwoInputs(), torch.rand(4, 3), 2) == 2
    assert threads_for(nn.Sequential(nn.LazyLinear(3)), torch.rand(4, 3), 2) == 2  # would draw its weights


@pytest.mark.parametrize("args, exc, match", [
    ((object(), torch.rand(2, 3)), TypeError, "model must be a torch.nn.Module"),
    ((LeNet(), [[1.0]]), TypeError, "batch must be a torch.Tensor"),
    ((LeNet(), torch.rand(0, 1, 28, 28)), ValueError, "batch must be a non-empty"),
    ((LeNet(), torch.tensor(1.0)), ValueError, "batch must be a non-empty"),
    ((LeNet(), torch.rand(2, 1, 28, 28), 0), ValueError, "requested must be a positive integer"),
    ((LeNet(), torch.rand(2, 1, 28, 28), 1.5), TypeError, "requested must be a positive integer"),
])
def test_threads_for_rejects_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        threads_for(*args)


def test_usable_cores_is_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(train.os, "sched_getaffinity", lambda pid: {0, 1, 5}, raising=False)
    assert usable_cores() == 3


def test_fit_trains_lenet_on_one_thread_and_restores_the_count():
    torch.set_num_threads(2)
    seen = []

    def metric(out, y):
        seen.append(torch.get_num_threads())
        return train.accuracy(out, y)

    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    model = LeNet()
    hist = fit(model, TensorLoader(x, y, batch_size=32), 2, torch.optim.SGD(model.parameters(), 0.1),
               metric=metric, val_loader=TensorLoader(x, y, batch_size=32), progress=False, device="cpu")
    assert seen and set(seen) == {1}
    assert hist.threads == 1          # what the batches ran on, for the notebooks to print
    assert torch.get_num_threads() == 2


def test_notebook_10s_small_resnet_is_below_the_measured_crossover(monkeypatch):
    """Measured on 2 cores: widths (16, 32, 64) ran 1.08x slower on 2 threads, (24, 48, 96)
    0.80x faster; the threshold lies between their FLOPs per batch of 128."""
    from cnnlib.models.resnet import small_resnet

    monkeypatch.setattr(train, "usable_cores", lambda: 2)
    x = torch.rand(128, 1, 28, 28)
    small, wider = (small_resnet(widths=w, layers=(1, 1, 1), in_channels=1, stem_stride=2)
                    for w in ((16, 32, 64), (24, 48, 96)))
    assert train._forward_flops(small, x) < PARALLEL_MIN_FLOPS <= train._forward_flops(wider, x)
    assert threads_for(small, x, 2) == 1 and threads_for(wider, x, 2) == 2


def test_fit_restores_the_count_when_training_fails():
    torch.set_num_threads(2)

    def bad_loss(out, y):
        raise RuntimeError("boom")

    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    model = LeNet()
    with pytest.raises(RuntimeError, match="boom"):
        fit(model, TensorLoader(x, y, batch_size=4), 1, torch.optim.SGD(model.parameters(), 0.1),
            loss_fn=bad_loss, progress=False, device="cpu")
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_importing_cnnlib_makes_openmp_wait_passively_unless_the_shell_says_otherwise(given, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    code = "import os, cnnlib; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected

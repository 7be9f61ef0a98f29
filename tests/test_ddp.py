"""cnnlib.ddp: process group, sharding, rank-0 output, and real 2-process runs with torchrun (gloo, CPU).

The torchrun tests launch ``python -m torch.distributed.run --standalone --nproc_per_node=2
-m cnnlib.ddp ...`` and check that 2 workers at batch B take the same step as one process
at batch 2B, that BatchNorm statistics differ per worker, and that a crashed or hung worker
ends the run with a non-zero exit code and a message instead of a hang. Tiny models, a few
samples: each launch costs about 5 CPU-seconds, most of it importing torch three times.
"""
from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.utils.data import DistributedSampler

from cnnlib import ddp
from cnnlib.models.resnet import small_resnet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world_of_one(monkeypatch):
    """A process group of one rank in this process (no torchrun variables)."""
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with ddp.process_group(30, "gloo") as info:
        yield info
    assert not dist.is_initialized()


def _synthetic(path: Path, n_train: int = 256, n_val: int = 128) -> Path:
    """A learnable 10-class problem of 28x28 images: class k lights up the k-th row band."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n_train + n_val,), generator=g)
    x = 0.1 * torch.rand(n_train + n_val, 1, 28, 28, generator=g)
    for k in range(10):
        x[y == k, :, 2 * k + 4:2 * k + 6, :] += 1.0
    torch.save({"train_x": x[:n_train], "train_y": y[:n_train], "val_x": x[n_train:], "val_y": y[n_train:]}, path)
    return path


def _torchrun(*args: str, nproc: int = 2) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = ddp.torchrun(args, nproc=nproc, timeout_s=60)
    return proc, time.perf_counter() - start


# ----------------------------------------------------------------------------- in this process
def test_world_of_one_setup_print_and_save(world_of_one, tmp_path, capsys):
    info = world_of_one
    assert (info.rank, info.world_size, info.local_rank, info.backend, info.device.type) == (0, 1, 0, "gloo", "cpu")
    assert info.is_main and ddp.is_main() and dist.get_world_size() == 1
    ddp.print0("only rank 0 prints")
    assert capsys.readouterr().out == "only rank 0 prints\n"
    assert ddp.save0({"w": torch.ones(2)}, tmp_path / "sub" / "ck.pt")
    assert torch.equal(torch.load(tmp_path / "sub" / "ck.pt")["w"], torch.ones(2))
    with pytest.raises(RuntimeError, match="already initialized"):
        ddp.setup(10, "gloo")


def test_setup_rejects_bad_arguments(monkeypatch):
    for bad in (0, -1.0, True, "5", None):
        with pytest.raises(ValueError, match="timeout_s"):
            ddp.setup(bad)
    with pytest.raises(ValueError, match="backend"):
        ddp.setup(10, "mpi")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ddp.default_backend() == "gloo"
    with pytest.raises(ValueError, match="nccl.*CUDA"):
        ddp.setup(10, "nccl")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ddp.default_backend() == "nccl"
    assert not dist.is_initialized()


def test_print0_and_save0_without_process_group(tmp_path, capsys):
    assert not dist.is_initialized() and ddp.is_main()
    ddp.print0("a", 1)
    assert capsys.readouterr().out == "a 1\n"
    assert ddp.save0([1, 2], tmp_path / "x.pt") and torch.load(tmp_path / "x.pt") == [1, 2]
    ddp.teardown()   # no-op without a group


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), world=st.integers(1, 4), batch=st.integers(1, 9), seed=st.integers(0, 99),
       epoch=st.integers(0, 3), shuffle=st.booleans())
def test_sharded_loader_is_distributed_sampler_in_batches(n, world, batch, seed, epoch, shuffle):
    x = torch.arange(n).float().reshape(n, 1) * 10
    y = torch.arange(n)
    shards = []
    for rank in range(world):
        loader = ddp.ShardedLoader(x, y, batch, rank, world, shuffle=shuffle, seed=seed)
        loader.set_epoch(epoch)
        ref = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
        ref.set_epoch(epoch)
        assert loader.indices().tolist() == list(ref)
        batches = list(loader)
        assert len(batches) == len(loader) == math.ceil(math.ceil(n / world) / batch)
        assert all(len(xb) <= batch for xb, _ in batches)
        got_y = torch.cat([yb for _, yb in batches])
        assert got_y.tolist() == list(ref) and torch.equal(torch.cat([xb for xb, _ in batches])[:, 0], got_y * 10.0)
        shards.append(got_y.tolist())
    assert len({len(s) for s in shards}) == 1                       # every rank takes the same number of steps
    everything = sum(shards, [])
    assert set(everything) == set(range(n))                          # together the ranks see every sample ...
    assert len(everything) - n == math.ceil(n / world) * world - n   # ... and repeat only the padding


def test_sharded_loader_reshuffles_per_epoch_and_checks_arguments():
    x, y = torch.zeros(50, 1), torch.arange(50)
    loader = ddp.ShardedLoader(x, y, 8, 0, 2, shuffle=True, seed=3)
    loader.set_epoch(0)
    first = loader.indices()
    loader.set_epoch(1)
    assert not torch.equal(first, loader.indices())
    with pytest.raises(ValueError, match="same length"):
        ddp.ShardedLoader(x, y[:3], 8)
    with pytest.raises(ValueError, match="rank must be smaller"):
        ddp.ShardedLoader(x, y, 8, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        ddp.ShardedLoader(x, y, 0)


def test_rank_seed_and_warmup():
    assert [ddp.rank_seed(7, r) for r in range(3)] == [7, 8, 9]
    with pytest.raises(ValueError, match="rank"):
        ddp.rank_seed(0, -1)
    f = ddp.warmup_lambda(4)
    assert [f(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert ddp.warmup_lambda(0)(0) == 1.0
    # LambdaLR applies it to the optimizer as Goyal et al.'s linear warm-up
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, f)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.8])


def test_global_batch_stats_in_a_world_of_one_are_batchnorms(world_of_one):
    x = torch.randn(6, 3, 4, 5, requires_grad=True)
    mean, var = ddp.global_batch_stats(x)
    bn = nn.BatchNorm2d(3, momentum=1.0)   # momentum 1: the running stats become the batch stats
    bn(x)
    assert torch.allclose(mean, bn.running_mean, atol=1e-6)
    n = 6 * 4 * 5
    assert torch.allclose(var, bn.running_var * (n - 1) / n, atol=1e-5)   # BN stores the unbiased var
    (mean.sum() + var.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="N, C, H, W"):
        ddp.global_batch_stats(torch.zeros(3, 4))


def test_syncbatchnorm_needs_a_gpu(world_of_one):
    """Why the notebook all-reduces the statistics itself: SyncBatchNorm refuses CPU tensors."""
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(2)))
    assert isinstance(sync[0], nn.SyncBatchNorm)
    with pytest.raises(ValueError, match="GPU"):
        sync(torch.randn(4, 2, 3, 3))


def test_one_rank_step_is_the_reference_step(world_of_one):
    for bn in (False, True):
        got = ddp.distributed_step(world_of_one, 6, seed=1, batch_norm=bn)
        ref = ddp.reference_step(1, 6, seed=1, batch_norm=bn)
        assert ddp.max_abs_diff(got["grads"], ref["grads"]) < 1e-6
        assert ddp.max_abs_diff(got["weights"], ref["weights"]) < 1e-6
        assert got["indices"].tolist() == list(range(6))
    # the step's gradient is autograd's gradient of the mean cross-entropy on the whole batch
    torch.manual_seed(0)
    model = ddp.tiny_net()
    x, y = ddp.step_data(5)
    out = ddp.one_step(model, x, y, lr=0.0)
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    assert ddp.max_abs_diff(out["grads"], {k: p.grad for k, p in model.named_parameters()}) == 0.0
    with pytest.raises(ValueError, match="same keys"):
        ddp.max_abs_diff({"a": torch.zeros(1)}, {"b": torch.zeros(1)})


def test_allreduce_timer_counts_every_step(world_of_one):
    model = nn.parallel.DistributedDataParallel(nn.Linear(3, 2))
    timer = ddp.AllReduceTimer().attach(model)
    for _ in range(3):
        model(torch.randn(4, 3)).sum().backward()
    assert timer.calls == 3 and timer.bytes == 3 * 8 * 4 and timer.seconds > 0   # 8 float32 per step
    with pytest.raises(TypeError, match="DistributedDataParallel"):
        ddp.AllReduceTimer().attach(nn.Linear(3, 2))


def test_main_train_in_a_world_of_one(tmp_path, monkeypatch, capsys):
    for var in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    data = _synthetic(tmp_path / "d.pt")
    rc = ddp.main(["train", "--data", str(data), "--epochs", "2", "--batch-size", "32", "--lr", "0.05",
                   "--warmup-steps", "3", "--metrics", str(tmp_path / "m.json"), "--checkpoint", str(tmp_path / "ck.pt")])
    assert rc == 0 and not dist.is_initialized()
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["world_size"] == 1 and m["effective_batch"] == 32 and m["steps"] == 2 * 8 and m["samples"] == 512
    assert m["allreduce_calls"] == 16 and 0 < m["allreduce_share"] < 1
    assert m["val_acc"] > 0.3    # chance is 0.1
    ck = torch.load(tmp_path / "ck.pt", weights_only=False)
    net = small_resnet(stem_stride=2)
    net.load_state_dict(ck["model"])   # rank 0 saved the plain model (no "module." prefix)
    assert ck["epoch"] == 2
    out = capsys.readouterr().out
    assert out.count("epoch 2/2: train loss") == 1 and "validation accuracy" in out


def test_main_step_and_failure_in_a_world_of_one(tmp_path, monkeypatch, capsys):
    for var in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert ddp.main(["step", "--out", str(tmp_path), "--batch-size", "3"]) == 0
    saved = torch.load(tmp_path / "step_rank0.pt", weights_only=False)
    assert set(saved) == {"plain", "bn"} and saved["bn"]["global_mean"].shape == (4,)
    data = _synthetic(tmp_path / "d.pt", 64, 16)
    assert ddp.main(["train", "--data", str(data), "--fail-rank", "0", "--fail-mode", "crash"]) == 1
    assert "rank 0 failed: injected failure on rank 0" in capsys.readouterr().err
    assert not dist.is_initialized()   # torn down after the failure


def test_torchrun_checks_its_arguments():
    with pytest.raises(ValueError, match="nproc"):
        ddp.torchrun(["step"], nproc=0)
    with pytest.raises(ValueError, match="timeout_s"):
        ddp.torchrun(["step"], timeout_s=0)


def test_explain_failure_names_the_cause():
    assert "process-group timeout (5 s)" in ddp.explain_failure(RuntimeError("Timed out waiting 5000ms"), 5)
    assert "lost the connection" in ddp.explain_failure(RuntimeError("Connection closed by peer"), 5)
    assert ddp.explain_failure(ValueError("bad"), 5) == "ValueError: bad"
    assert ddp.explain_failure(KeyError(), 5) == "KeyError: KeyError"


# ----------------------------------------------------------------------------- torchrun, 2 processes
@pytest.fixture(scope="module")
def two_rank_step(tmp_path_factory):
    out = tmp_path_factory.mktemp("step")
    proc, _ = _torchrun("step", "--out", str(out), "--batch-size", "4", "--seed", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [torch.load(out / f"step_rank{r}.pt", weights_only=False) for r in range(2)], proc


def test_two_workers_at_b_step_like_one_process_at_2b(two_rank_step):
    ranks, proc = two_rank_step
    r0, r1 = ranks[0]["plain"], ranks[1]["plain"]
    assert r0["indices"].tolist() == [0, 2, 4, 6] and r1["indices"].tolist() == [1, 3, 5, 7]
    assert ddp.max_abs_diff(r0["grads"], r1["grads"]) == 0.0           # after the all-reduce: identical
    ref = ddp.reference_step(2, 4, seed=2)                              # one process, batch 8
    assert ddp.max_abs_diff(r0["grads"], ref["grads"]) < 1e-6
    assert ddp.max_abs_diff(r0["weights"], ref["weights"]) < 1e-6
    assert ddp.max_abs_diff(r1["weights"], ref["weights"]) < 1e-6
    assert abs((r0["loss"] + r1["loss"]) / 2 - ref["loss"]) < 1e-6      # the mean of the shard means
    assert proc.stdout.count("cnnlib.ddp step:") == 1                   # rank 0 alone printed


def test_batchnorm_statistics_differ_per_worker(two_rank_step):
    ranks, _ = two_rank_step
    r0, r1 = ranks[0]["bn"], ranks[1]["bn"]
    ref = ddp.reference_step(2, 4, seed=2, batch_norm=True)
    # each worker normalized with its own 4 images: other statistics, other running averages
    assert (r0["bn_mean"] - r1["bn_mean"]).abs().max() > 1e-3
    assert ddp.max_abs_diff(r0["buffers"], r1["buffers"]) > 1e-4
    for r in (r0, r1):
        own = ref["bn_input"][r["indices"]]
        assert torch.allclose(r["bn_mean"], own.mean((0, 2, 3)), atol=1e-6)
    # so the averaged gradients are NOT those of one process at batch 8 ...
    assert ddp.max_abs_diff(r0["grads"], ref["grads"]) > 1e-4
    assert ddp.max_abs_diff(r0["grads"], r1["grads"]) == 0.0
    # ... while the all-reduced statistics (what SyncBatchNorm normalizes with) are that batch's
    for r in (r0, r1):
        assert torch.allclose(r["global_mean"], ref["bn_mean"], atol=1e-6)
        assert torch.allclose(r["global_var"], ref["bn_var"], atol=1e-6)


def test_two_worker_training_saves_on_rank_zero(tmp_path):
    data = _synthetic(tmp_path / "d.pt")
    proc, _ = _torchrun("train", "--data", str(data), "--batch-size", "16", "--metrics", str(tmp_path / "m.json"),
                        "--checkpoint", str(tmp_path / "ck.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["world_size"] == 2 and m["backend"] == "gloo" and m["effective_batch"] == 32
    assert m["steps"] == 8 and m["samples"] == 256 and m["allreduce_calls"] == 8
    assert list(tmp_path.glob("*.pt")) and (tmp_path / "ck.pt").exists()
    small_resnet(stem_stride=2).load_state_dict(torch.load(tmp_path / "ck.pt", weights_only=False)["model"])
    assert proc.stdout.count("validation accuracy") == 1 and proc.stdout.count("2 process(es)") == 1


@pytest.mark.parametrize("mode, says", [
    ("crash", "rank 1 failed: injected failure on rank 1"),
    ("hang", "rank 0 failed: a collective operation waited longer than the process-group timeout (3 s)"),
])
def test_a_failing_worker_ends_the_run_with_a_message(tmp_path, mode, says):
    data = _synthetic(tmp_path / "d.pt", 64, 16)
    proc, seconds = _torchrun("train", "--data", str(data), "--batch-size", "16", "--timeout", "3",
                              "--fail-rank", "1", "--fail-mode", mode)
    assert proc.returncode != 0
    assert says in proc.stderr, proc.stderr[-3000:]
    assert "ChildFailedError" in proc.stderr        # torchrun reports the failed worker and stops the other
    assert seconds < 30, f"the failing run took {seconds:.0f} s: the timeout did not fire"

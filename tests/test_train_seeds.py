"""over_seeds / SeedStats / clear_difference against NumPy and the statistics module."""
import math
import statistics

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from cnnlib.train import SeedStats, clear_difference, over_seeds

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=12))
def test_mean_and_sd_match_the_statistics_module(values):
    s = SeedStats.of(values)
    assert s.n == len(values)
    assert math.isclose(s.mean, statistics.fmean(values), rel_tol=1e-9, abs_tol=1e-6)
    expected_sd = statistics.stdev(values) if len(values) > 1 else 0.0
    assert math.isclose(s.sd, expected_sd, rel_tol=1e-6, abs_tol=1e-6)


def test_format_shows_mean_sd_and_n():
    s = SeedStats.of([0.91, 0.92, 0.90])
    assert str(s) == "0.910 \u00b1 0.010 (n=3)"
    assert s.format(1) == "0.9 \u00b1 0.0 (n=3)"


def test_over_seeds_seeds_every_run_and_repeats():
    def run(seed):
        return torch.rand(()).item()  # depends only on the seed over_seeds sets

    a, b = over_seeds(run, seeds=(0, 1, 2)), over_seeds(run, seeds=(0, 1, 2))
    assert a.values == b.values
    torch.manual_seed(1)
    assert a.values[1] == torch.rand(()).item()
    assert len(set(a.values)) == 3


def test_over_seeds_with_dicts_gives_one_stats_per_key():
    out = over_seeds(lambda seed: {"acc": seed / 10, "loss": float(seed)}, seeds=[1, 2, 3])
    assert set(out) == {"acc", "loss"}
    assert out["acc"].values == (0.1, 0.2, 0.3)
    assert out["loss"].mean == 2.0


@pytest.mark.parametrize("kwargs, err, msg", [
    (dict(run=1), TypeError, "run must be callable"),
    (dict(run=lambda s: 1.0, seeds=()), ValueError, "seeds must hold at least one"),
    (dict(run=lambda s: 1.0, seeds=(0, 0)), ValueError, "seeds must be distinct"),
    (dict(run=lambda s: 1.0, seeds=(-1,)), ValueError, r"seeds\[0\]"),
    (dict(run=lambda s: 1.0, seeds="012"), TypeError, "seeds must be"),
    (dict(run=lambda s: 1.0, deterministic="yes"), TypeError, "deterministic"),
    (dict(run=lambda s: {"a": 1.0} if s else 1.0), ValueError, "not a mix"),
    (dict(run=lambda s: {"a": 1.0} if s else {"b": 1.0}), ValueError, "same keys"),
    (dict(run=lambda s: "x"), TypeError, r"values\[0\]"),
    (dict(run=lambda s: float("nan")), ValueError, "finite"),
])
def test_over_seeds_rejects_bad_input(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        over_seeds(**kwargs)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=8), st.lists(finite, min_size=2, max_size=8),
       st.floats(0.5, 4))
def test_clear_difference_is_a_welch_style_threshold(xs, ys, k):
    a, b = SeedStats.of(xs), SeedStats.of(ys)
    diff = np.mean(xs) - np.mean(ys)
    se = math.sqrt(np.var(xs, ddof=1) / len(xs) + np.var(ys, ddof=1) / len(ys))
    verdict = clear_difference(a, b, k)
    assert verdict == -clear_difference(b, a, k)
    if abs(diff) > k * se * (1 + 1e-9) + 1e-9:
        assert verdict == np.sign(diff)
    elif abs(diff) < k * se * (1 - 1e-9) - 1e-9:
        assert verdict == 0


def test_clear_difference_examples():
    hi, lo = SeedStats.of([0.90, 0.91, 0.92]), SeedStats.of([0.80, 0.81, 0.82])
    assert clear_difference(hi, lo) == 1 and clear_difference(lo, hi) == -1
    noisy = SeedStats.of([0.70, 0.95, 0.85])
    assert clear_difference(hi, noisy) == 0
    assert clear_difference(hi, hi) == 0


@pytest.mark.parametrize("a, b, k, err, msg", [
    ([1.0, 2.0], None, 2.0, TypeError, "b must be a SeedStats"),
    ([1.0], [1.0, 2.0], 2.0, ValueError, "a must hold at least 2 seeds"),
    ([1.0, 2.0], [1.0, 2.0], 0, ValueError, "k must be"),
    ([1.0, 2.0], [1.0, 2.0], True, ValueError, "k must be"),
])
def test_clear_difference_rejects_bad_input(a, b, k, err, msg):
    a = SeedStats.of(a)
    b = SeedStats.of(b) if b is not None else b
    with pytest.raises(err, match=msg):
        clear_difference(a, b, k)


def test_seedstats_rejects_bad_values():
    with pytest.raises(ValueError, match="at least one"):
        SeedStats.of([])
    with pytest.raises(TypeError, match=r"values\[1\]"):
        SeedStats.of([1.0, True])
    with pytest.raises(TypeError, match="values must be"):
        SeedStats(3.0)
    assert SeedStats.of([torch.tensor(2.0)]).values == (2.0,)


def test_fit_records_every_batch_with_its_position_in_epochs():
    from cnnlib.data import TensorLoader
    from cnnlib.train import fit
    from torch import nn

    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    model = nn.Linear(3, 2)
    h = fit(model, TensorLoader(x, y, batch_size=8), 2, torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert len(h.batch_loss) == len(h.batch_metric) == len(h.batch_epoch) == 10
    assert h.batch_epoch[4] == 1.0 and h.batch_epoch[-1] == 2.0 and h.batch_epoch[0] == 0.2
    # the epoch means are the size-weighted means of the batches (equal batches here)
    assert math.isclose(h.train_loss[0], sum(h.batch_loss[:5]) / 5, rel_tol=1e-6)
    assert math.isclose(h.train_metric[1], sum(h.batch_metric[5:]) / 5, rel_tol=1e-6)

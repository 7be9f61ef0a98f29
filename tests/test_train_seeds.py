"""over_seeds / SeedStats / welch / clear_difference against NumPy, the statistics module,
SciPy's Welch test and R's published sleep-data example."""
import math
import statistics

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats as scipy_stats

from cnnlib.train import SeedStats, clear_difference, over_seeds, welch

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


spread = st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=8).filter(
    lambda v: np.std(v) > 1e-3 * (1 + np.max(np.abs(v))))   # a spread scipy's float sums resolve


@settings(max_examples=80, deadline=None)
@given(spread, spread)
def test_welch_matches_scipy_ttest_ind(xs, ys):
    """t, df and p against SciPy's own Welch test (ttest_ind, equal_var=False)."""
    w = welch(SeedStats.of(xs), SeedStats.of(ys))
    ref = scipy_stats.ttest_ind(xs, ys, equal_var=False)
    assert math.isclose(w.t, ref.statistic, rel_tol=1e-6, abs_tol=1e-9)
    assert math.isclose(w.df, ref.df, rel_tol=1e-6)
    assert math.isclose(w.p, ref.pvalue, rel_tol=1e-5, abs_tol=1e-12)
    assert math.isclose(w.diff, np.mean(xs) - np.mean(ys), rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=80, deadline=None)
@given(spread, spread, st.floats(0.001, 0.5))
def test_clear_difference_is_welchs_test_at_level_alpha(xs, ys, alpha):
    a, b = SeedStats.of(xs), SeedStats.of(ys)
    ref = scipy_stats.ttest_ind(xs, ys, equal_var=False)
    verdict = clear_difference(a, b, alpha)
    assert verdict == -clear_difference(b, a, alpha)
    if ref.pvalue < alpha * (1 - 1e-6):
        assert verdict == np.sign(np.mean(xs) - np.mean(ys))
    elif ref.pvalue > alpha * (1 + 1e-6):
        assert verdict == 0


def test_welch_published_example():
    """Welch's test on R's sleep data (Student 1908; R's `t.test(extra ~ group, data = sleep)`
    prints t = -1.8608, df = 17.776, p-value = 0.07939)."""
    g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    w = welch(SeedStats.of(g1), SeedStats.of(g2))
    assert (round(w.t, 4), round(w.df, 3), round(w.p, 5)) == (-1.8608, 17.776, 0.07939)
    assert clear_difference(SeedStats.of(g1), SeedStats.of(g2)) == 0                  # p > 0.05
    assert clear_difference(SeedStats.of(g1), SeedStats.of(g2), alpha=0.1) == -1      # p < 0.1


def test_clear_difference_examples():
    hi, lo = SeedStats.of([0.90, 0.91, 0.92]), SeedStats.of([0.80, 0.81, 0.82])
    assert clear_difference(hi, lo) == 1 and clear_difference(lo, hi) == -1
    noisy = SeedStats.of([0.70, 0.95, 0.85])
    assert clear_difference(hi, noisy) == 0
    assert clear_difference(hi, hi) == 0
    # 3 seeds each: a gap of 2.5 standard errors passes a 2-SE normal rule but not Welch's
    # test, whose critical value at df = 4 is t.ppf(0.975, 4) = 2.776
    base = SeedStats.of([0.0, 1.0, 2.0])
    se = math.sqrt(2 * base.sd ** 2 / 3)
    shifted = SeedStats.of([v + 2.5 * se for v in base.values])
    assert welch(shifted, base).df == pytest.approx(4.0)
    assert clear_difference(shifted, base) == 0
    assert clear_difference(SeedStats.of([v + 2.9 * se for v in base.values]), base) == 1


def test_welch_without_spread():
    same, other = SeedStats.of([1.0, 1.0]), SeedStats.of([2.0, 2.0, 2.0])
    assert welch(same, same).p == 1.0 and clear_difference(same, same) == 0
    assert welch(other, same).p == 0.0 and welch(other, same).t == math.inf
    assert clear_difference(other, same) == 1 and clear_difference(same, other) == -1


@pytest.mark.parametrize("a, b, alpha, err, msg", [
    ([1.0, 2.0], None, 0.05, TypeError, "b must be a SeedStats"),
    ([1.0], [1.0, 2.0], 0.05, ValueError, "a must hold at least 2 seeds"),
    ([1.0, 2.0], [1.0, 2.0], 0, ValueError, "alpha must be"),
    ([1.0, 2.0], [1.0, 2.0], 1.0, ValueError, "alpha must be"),
    ([1.0, 2.0], [1.0, 2.0], True, ValueError, "alpha must be"),
])
def test_clear_difference_rejects_bad_input(a, b, alpha, err, msg):
    a = SeedStats.of(a)
    b = SeedStats.of(b) if b is not None else b
    with pytest.raises(err, match=msg):
        clear_difference(a, b, alpha)


def test_welch_rejects_bad_input():
    with pytest.raises(TypeError, match="a must be a SeedStats"):
        welch([1.0, 2.0], SeedStats.of([1.0, 2.0]))
    with pytest.raises(ValueError, match="b must hold at least 2 seeds"):
        welch(SeedStats.of([1.0, 2.0]), SeedStats.of([1.0]))


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


def test_welch_with_spreads_too_small_to_square():
    """For spreads near 1e-100 the variance of the mean squared underflows to 0 while the
    standard error does not: the test still answers, with a finite df."""
    a, b = SeedStats.of([0.0, 1e-100, 2e-100]), SeedStats.of([1e-99, 1.1e-99, 1.2e-99])
    assert (a.sd ** 2 / a.n) ** 2 == 0.0 < a.sd ** 2 / a.n
    w = welch(a, b)
    assert math.isfinite(w.df) and w.df > 0 and w.t < 0 and clear_difference(a, b) == -1


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=2, max_size=6), st.lists(finite, min_size=2, max_size=6))
def test_difference_in_words_follows_scipys_welch_test(xs, ys):
    """The words follow SciPy's Welch test directly (not through clear_difference)."""
    from cnnlib.train import difference_in_words

    a, b = SeedStats.of(xs), SeedStats.of(ys)
    words = ("up", "level", "down")
    got = difference_in_words(a, b, words)
    if a.sd == 0 and b.sd == 0:
        return   # SciPy returns nan here; the degenerate case is tested in the examples
    p = scipy_stats.ttest_ind(xs, ys, equal_var=False).pvalue
    if not np.isfinite(p) or abs(p - 0.05) < 1e-6:
        return
    expected = "level" if p >= 0.05 or a.mean == b.mean else ("up" if a.mean > b.mean else "down")
    assert got == expected


def test_difference_in_words_examples_and_bad_input():
    from cnnlib.train import ABOVE_SAME_BELOW, difference_in_words

    high, low = SeedStats.of([0.91, 0.92, 0.93]), SeedStats.of([0.80, 0.81, 0.82])
    noisy = SeedStats.of([0.70, 0.95, 0.85])
    assert difference_in_words(high, low) == "clearly above" == ABOVE_SAME_BELOW[0]
    assert difference_in_words(low, high) == "clearly below"
    assert difference_in_words(high, noisy) == "no measurable difference from"
    assert difference_in_words(high, low, ("higher than", "as", "lower than")) == "higher than"
    for bad in ("abc", ("a", "b"), ("a", "b", 3), None):
        with pytest.raises(TypeError, match="words must be three strings"):
            difference_in_words(high, low, bad)
    with pytest.raises(TypeError, match="a must be a SeedStats"):
        difference_in_words([0.9, 0.91], low)

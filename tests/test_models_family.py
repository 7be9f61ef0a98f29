"""cnnlib.models.family: the shared small-model budget of notebooks 06-08."""
from __future__ import annotations

import matplotlib
import pytest
import torch
import torchvision
from torch import nn

from cnnlib.data import TensorLoader
from cnnlib.models.alexnet import alexnet
from cnnlib.models.family import (
    BUDGET,
    Budget,
    EpochChunks,
    budget_data,
    logistic_regression,
    longest_path,
    plot_seed_curves,
    same_init,
    evaluate_family,
    train_family,
    train_on_budget,
    versus_baseline,
    weight_layers,
)
from cnnlib.models.googlenet import googlenet
from cnnlib.models.vgg import vgg16, vgg19
from cnnlib.train import SeedStats, difference_in_words, evaluate, over_seeds, seed_everything

matplotlib.use("Agg")


def test_budget_is_the_documented_setting():
    assert (BUDGET.n_images, BUDGET.n_val, BUDGET.epochs, BUDGET.batch_size) == (3500, 500, 2, 64)
    assert BUDGET.n_train == 3000 and BUDGET.steps_per_epoch() == 47 and len(BUDGET.seeds) >= 3


@pytest.mark.parametrize("kwargs", [dict(n_val=3500), dict(lr=0), dict(lr=True), dict(epochs=0),
                                    dict(seeds=(0, 1)), dict(batch_size=-1)])
def test_budget_refuses_bad_settings(kwargs):
    with pytest.raises((TypeError, ValueError)):
        Budget(**kwargs)


def test_budget_data_is_a_disjoint_split_of_the_training_set():
    small = Budget(n_images=300, n_val=100)
    tx, ty, vx, vy = budget_data(small)
    assert tx.shape == (200, 1, 28, 28) and vx.shape == (100, 1, 28, 28) and ty.shape == (200,)
    rows = {tuple(r.tolist()) for r in tx.flatten(1)}
    assert not any(tuple(r.tolist()) in rows for r in vx.flatten(1))
    again = budget_data(small)
    assert all(torch.equal(a, b) for a, b in zip((tx, ty, vx, vy), again))


def test_logistic_regression_is_one_dense_layer():
    model = logistic_regression()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert sum(p.numel() for p in model.parameters()) == 784 * 10 + 10
    with pytest.raises(ValueError, match="in_features"):
        logistic_regression(0)


def test_epoch_chunks_cover_each_epoch_exactly_once():
    x = torch.arange(10.0).reshape(10, 1)
    loader = TensorLoader(x, x, batch_size=3, shuffle=True, seed=0)
    whole = [torch.cat([b for b, _ in loader]) for _ in range(2)]
    loader = TensorLoader(x, x, batch_size=3, shuffle=True, seed=0)
    chunks = EpochChunks(loader, 3)
    sizes, parts = [], []
    for _ in range(6):
        sizes.append(len(chunks))
        parts.append([b for b, _ in chunks])
    assert sizes == [2, 1, 1] * 2
    assert torch.equal(torch.cat([b for p in parts[:3] for b in p]), whole[0])
    assert torch.equal(torch.cat([b for p in parts[3:] for b in p]), whole[1])
    with pytest.raises(ValueError, match="parts"):
        EpochChunks(loader, 5)
    with pytest.raises(TypeError, match="loader"):
        EpochChunks([1, 2], 1)


def test_train_on_budget_records_several_points_per_epoch():
    small = Budget(n_images=400, n_val=100, epochs=2, evals_per_epoch=3)
    data = budget_data(small)
    seed_everything(0)
    hist = train_on_budget(logistic_regression(), data, seed=0, budget=small, device="cpu")
    assert len(hist.train_loss) == len(hist.val_metric) == 6
    assert hist.val_metric[-1] > 0.3                  # a linear model learns something in 10 steps
    with pytest.raises(TypeError, match="data"):
        train_on_budget(logistic_regression(), data[:2], budget=small)
    fig = plot_seed_curves({"linear": [hist, hist]}, 3)
    ax = fig.axes[1]
    assert [t for t in ax.get_xticks()] == [0, 1, 2]  # whole-number epoch ticks
    assert len(ax.lines[0].get_xdata()) == 6


def test_depth_as_the_papers_count_it():
    with torch.device("meta"):
        nets = {8: alexnet("paper"), 16: vgg16(), 19: vgg19(), 22: googlenet("paper"),
                152: torchvision.models.resnet152(), 18: torchvision.models.resnet18()}
    for published, model in nets.items():
        assert longest_path(model) == published
    assert weight_layers(nets[22]) == 3 + 6 * 9 + 1
    assert longest_path(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Linear(2, 2))) == 2


def test_same_init_gives_every_model_one_rule():
    """small_alexnet's ReLU-gain init of every layer is replaced: the hidden layers get He-normal
    weights (sd sqrt(2 / fan_in)), the output layer PyTorch's default (uniform on +-1/sqrt(fan_in))."""
    from cnnlib.models.alexnet import small_alexnet

    seed_everything(0)
    model = small_alexnet()
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = layers[-1]
    fan_out_layer = out.weight[0].numel()
    assert out.weight.abs().max().item() > 1.5 / fan_out_layer ** 0.5        # the constructor's ReLU gain
    assert same_init(model) is model
    assert out.weight.abs().max().item() <= 1 / fan_out_layer ** 0.5 + 1e-6  # PyTorch's default bound
    for m in layers[:-1]:
        he = (2 / m.weight[0].numel()) ** 0.5
        assert abs(m.weight.std().item() - he) < 0.25 * he
    single = logistic_regression()
    same_init(single)
    assert single[1].weight.abs().max().item() <= 1 / 784 ** 0.5 + 1e-6     # one layer: the default
    with pytest.raises(TypeError, match="model"):
        same_init("not a model")


def _tiny_conv() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                         nn.Linear(64, 10))


TINY = Budget(n_images=300, n_val=100, epochs=1, batch_size=50, evals_per_epoch=2)


def test_train_family_is_the_hand_written_loop_over_seeds():
    """train_family gives what notebooks 06-08 wrote by hand: over_seeds around
    train_on_budget, the model built after the seeding; same weights, same numbers."""
    data = budget_data(TINY)
    family = {"logistic regression": logistic_regression, "tiny conv": _tiny_conv}
    runs = train_family(family, data, TINY, device="cpu")
    assert list(runs.models) == list(runs.histories) == list(runs.val_acc) == list(family)
    for name, make in family.items():
        by_hand = []

        def run(seed: int) -> float:
            model = make()
            by_hand.append(model)
            return train_on_budget(model, data, seed, TINY, device="cpu").val_metric[-1]

        expected = over_seeds(run, TINY.seeds)
        assert runs.val_acc[name].values == expected.values
        assert tuple(h.val_metric[-1] for h in runs.histories[name]) == expected.values
        assert len(runs.models[name]) == len(runs.histories[name]) == len(TINY.seeds)
        for mine, theirs in zip(runs.models[name], by_hand):
            for a, b in zip(mine.parameters(), theirs.parameters()):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
    lines = runs.summary().splitlines()
    assert len(lines) == 2 and lines[1].startswith("tiny conv") and f"{sum(p.numel() for p in _tiny_conv().parameters()):,} params" in lines[1]


def test_test_family_and_versus_baseline_agree_with_evaluate_and_the_welch_words():
    data = budget_data(TINY)
    runs = train_family({"logistic regression": logistic_regression, "tiny conv": _tiny_conv}, data, TINY, device="cpu")
    loader = TensorLoader(data[2], data[3], batch_size=40)
    acc = evaluate_family(runs.models, loader, device="cpu")
    for name, models in runs.models.items():
        assert list(acc[name].values) == [evaluate(m, loader, device="cpu")[1] for m in models]
    lines = versus_baseline(acc).splitlines()
    assert lines[0].endswith("(the baseline)")
    assert lines[1].endswith(f"{difference_in_words(acc['tiny conv'], acc['logistic regression'])} the linear model")
    made_up = {"a": SeedStats.of([0.9, 0.91, 0.92]), "b": SeedStats.of([0.5, 0.51, 0.52])}
    assert "clearly above the linear model" in versus_baseline(made_up, baseline="b").splitlines()[0]
    assert versus_baseline(made_up, baseline="a", called="model a").splitlines()[1].endswith("clearly below model a")


@pytest.mark.parametrize("call, kind, match", [
    (lambda: train_family({}, budget_data(TINY), TINY), TypeError, "family"),
    (lambda: train_family({"x": 3}, budget_data(TINY), TINY), TypeError, "family"),
    (lambda: train_family({"x": logistic_regression}, budget_data(TINY)[:2], TINY), TypeError, "data"),
    (lambda: train_family({"x": logistic_regression}, budget_data(TINY), "budget"), TypeError, "budget"),
    (lambda: train_family({"x": lambda: 3}, budget_data(TINY), TINY), TypeError, "family"),
    (lambda: evaluate_family({"x": logistic_regression()}, []), TypeError, "models"),
    (lambda: evaluate_family({}, []), TypeError, "models"),
    (lambda: versus_baseline({"a": 0.9}), TypeError, "accuracy"),
    (lambda: versus_baseline({"a": SeedStats.of([0.9, 0.8, 0.7])}), ValueError, "baseline"),
    (lambda: versus_baseline({"a": SeedStats.of([0.9, 0.8, 0.7])}, "a", called=3), TypeError, "called"),
])
def test_family_helpers_refuse_bad_input(call, kind, match):
    with pytest.raises(kind, match=match):
        call()

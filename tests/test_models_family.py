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
    train_on_budget,
    weight_layers,
)
from cnnlib.models.googlenet import googlenet
from cnnlib.models.vgg import vgg16, vgg19
from cnnlib.train import seed_everything

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

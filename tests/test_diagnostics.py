"""cnnlib.diagnostics: activation statistics and gradient norms via hooks, loss recording."""
from __future__ import annotations

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.diagnostics import (
    ActivationRecorder, LossRecorder, activation_stats, channel_stats, gradient_norms, plot_per_layer, summarize_ratio,
)

matplotlib.use("Agg")


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def test_activation_stats_match_the_outputs():
    model, x = tiny(), torch.randn(5, 1, 6, 6)
    stats = activation_stats(model, x)
    assert [s.name for s in stats] == ["0", "2", "6"] and [s.type for s in stats] == ["Conv2d", "Conv2d", "Linear"]
    out0 = model[0](x)
    assert stats[0].mean == pytest.approx(out0.mean().item(), abs=1e-6)
    assert stats[0].std == pytest.approx(out0.std().item(), abs=1e-6)
    relu = activation_stats(model, x, (nn.ReLU,))
    assert relu[0].zero_fraction == pytest.approx((F.relu(out0) == 0).float().mean().item())


def test_recorder_predicate_clear_and_removal():
    model = tiny()
    with ActivationRecorder(model, lambda name, m: name == "2") as rec:
        model(torch.randn(2, 1, 6, 6))
        model(torch.randn(2, 1, 6, 6))
    assert len(rec.stats) == 2 and len(rec.stds()) == 2
    rec.clear()
    model(torch.randn(2, 1, 6, 6))               # hooks are gone
    assert rec.stats == []
    with pytest.raises(ValueError, match="no layer"):
        ActivationRecorder(model, (nn.BatchNorm2d,))


def test_gradient_norms_of_weights_and_outputs():
    model, x, y = tiny(), torch.randn(4, 1, 6, 6), torch.tensor([0, 1, 2, 0])
    model[0].weight.grad = torch.ones_like(model[0].weight)          # must be restored
    g = gradient_norms(model, x, y)
    assert list(g) == ["0", "2", "6"] and all(v > 0 for v in g.values())
    assert torch.equal(model[0].weight.grad, torch.ones_like(model[0].weight))
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    assert g["2"] == pytest.approx(model[2].weight.grad.norm().item(), rel=1e-5)
    out = gradient_norms(model, x, y, of="output")
    assert list(out) == ["0", "2", "6"] and all(v > 0 for v in out.values())
    with pytest.raises(ValueError, match="of must be"):
        gradient_norms(model, x, y, of="bias")
    with pytest.raises(ValueError, match="without a weight"):
        gradient_norms(model, x, y, layer_types=(nn.ReLU,))


def test_channel_stats():
    x = torch.randn(8, 3, 4, 4) * torch.tensor([1.0, 2.0, 3.0])[None, :, None, None] + 5
    mean, var = channel_stats(x)
    torch.testing.assert_close(mean, x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(var, x.permute(1, 0, 2, 3).reshape(3, -1).var(dim=1, unbiased=False))
    with pytest.raises(ValueError):
        channel_stats(torch.randn(3, 4))


def test_loss_recorder_records_training_steps_only():
    rec = LossRecorder()
    out, y = torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 0])
    loss = rec(out, y)
    assert loss.item() == pytest.approx(F.cross_entropy(out, y).item())
    with torch.no_grad():
        rec(out, y)
    assert len(rec.losses) == 1
    rec.losses = [1.0, 2.0, 3.0, 4.0]
    assert rec.smoothed(2) == [1.0, 1.5, 2.5, 3.5]
    with pytest.raises(ValueError):
        rec.smoothed(0)


def test_plot_per_layer_and_ratio():
    fig = plot_per_layer({"a": [1.0, 0.1, 0.01], "b": [1.0, 1.0, 1.0]}, "std", title="t")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    fig2 = plot_per_layer({"a": [1, 2]}, "x", log=False, ax=ax)
    assert fig2 is fig
    with pytest.raises(ValueError):
        plot_per_layer({}, "std")
    assert summarize_ratio([2.0, 1.0]) == 0.5
    assert summarize_ratio([0.0, 1.0]) == float("inf") and summarize_ratio([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError):
        summarize_ratio([])

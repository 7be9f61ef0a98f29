"""cnnlib.shapes.summary: the layer table, its receptive-field rule, and that it leaves
the model alone. (Totals of the torchvision models are checked in test_shapes.py.)"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cnnlib.shapes import RF, LayerRow, Summary, count_params, summary


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.pool1(self.relu(self.conv1(x)))
        x = self.pool2(self.relu(self.conv2(x)))
        x = self.flatten(x)
        return self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))


LENET_TABLE = """\
Layer    Type       Output shape     Params  RF     MACs
--------------------------------------------------------
conv1    Conv2d     [1, 6, 28, 28]      156   5  117,600
relu     ReLU       [1, 6, 28, 28]        0   5        -
pool1    MaxPool2d  [1, 6, 14, 14]        0   6        -
conv2    Conv2d     [1, 16, 10, 10]   2,416  14  240,000
relu     ReLU       [1, 16, 10, 10]       0  14        -
pool2    MaxPool2d  [1, 16, 5, 5]         0  16        -
flatten  Flatten    [1, 400]              0   -        -
fc1      Linear     [1, 120]         48,120   -   48,000
relu     ReLU       [1, 120]              0   -        -
fc2      Linear     [1, 84]          10,164   -   10,080
relu     ReLU       [1, 84]               0   -        -
fc3      Linear     [1, 10]             850   -      840
--------------------------------------------------------
Input shape:          [1, 1, 32, 32]
Total params:         61,706
Trainable params:     61,706
Non-trainable params: 0
Total MACs:           416,520 (416.52 K)"""


def test_lenet_table_is_exact_and_deterministic():
    model = LeNet()
    result = summary(model, (1, 1, 32, 32))
    assert str(result) == LENET_TABLE
    assert repr(result) == LENET_TABLE
    assert str(summary(LeNet(), (1, 1, 32, 32))) == LENET_TABLE   # other weights, same text
    assert isinstance(result, Summary) and isinstance(result.rows[0], LayerRow)
    assert result.rows[0] == LayerRow("conv1", "Conv2d", (1, 6, 28, 28), 156, RF(5, 1, 2), 117_600)
    assert result.total_params == result.trainable_params == 61_706 == count_params(model)
    assert result.total_macs == 416_520
    assert result.input_shape == (1, 1, 32, 32)


def test_to_markdown():
    md = summary(LeNet(), (1, 1, 32, 32)).to_markdown()
    lines = md.splitlines()
    assert lines[0] == "| Layer | Type | Output shape | Params | RF | MACs |"
    assert lines[1] == "| :--- | :--- | :--- | ---: | ---: | ---: |"
    assert lines[2] == "| conv1 | Conv2d | [1, 6, 28, 28] | 156 | 5 | 117,600 |"
    assert "- **Total params:** 61,706" in lines


def test_model_is_left_untouched():
    model = LeNet().train()
    model.fc2.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summary(model, (1, 1, 32, 32))                      # meta: stand-ins, no real compute
    summary(model, (1, 1, 32, 32), device=None)         # real weights on the CPU
    summary(model, (1, 1, 32, 32), device="cpu")
    for k, v in model.state_dict().items():
        assert v.device.type == "cpu" and torch.equal(v, before[k]), k
    assert model.training and model.conv1.training and not model.fc2.training
    assert not model.conv1._forward_hooks and not model.conv1._forward_pre_hooks


def test_batchnorm_running_stats_untouched_and_batch_of_one():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(4))
    before = [b.clone() for b in model.buffers()]
    result = summary(model, (1, 3, 8, 8), device=None)   # train-mode BN would refuse 1 value per channel
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))
    assert result.total_params == 3 * 4 * 9 + 4 + 8 + 8 and model.training


def test_same_table_on_meta_cpu_and_tensor_input():
    model = LeNet()
    meta = str(summary(model, (2, 1, 32, 32)))
    assert str(summary(model, (2, 1, 32, 32), device=None)) == meta
    assert str(summary(model, torch.randn(2, 1, 32, 32))) == meta
    assert str(summary(model, [2, 1, 32, 32])) == meta
    assert summary(model, (2, 1, 32, 32)).total_macs == 2 * 416_520     # MACs for the whole batch


def test_model_built_on_meta():
    with torch.device("meta"):
        model = LeNet()
    assert str(summary(model, (1, 1, 32, 32))) == LENET_TABLE


def test_vgg16_receptive_fields_in_table():
    with torch.device("meta"):
        model = torchvision.models.vgg16()
    rows = {row.name: row for row in summary(model, (1, 3, 224, 224)).rows}
    assert rows["features.28"].rf.size == 196           # conv5_3
    assert rows["features.30"].rf == RF(212, 32, 15.5)  # pool5
    assert rows["avgpool"].rf == RF(212, 32, 15.5)      # adaptive 7x7 on 7x7: an identity pool
    assert rows["classifier.0"].rf is None              # after torch.flatten: no field


def test_resnet_rf_follows_data_flow_and_stops_at_the_first_sum():
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    rows = summary(model, (1, 3, 224, 224)).rows
    by_name = {}
    for row in rows:
        by_name.setdefault(row.name, row)
    assert by_name["conv1"].rf.size == 7
    assert by_name["maxpool"].rf.size == 11
    assert by_name["layer1.0.conv1"].rf.size == 19
    assert by_name["layer1.0.conv2"].rf.size == 27
    # the ReLU after `out += identity` is the first row whose input is a sum of two branches
    first_sum = next(i for i, r in enumerate(rows) if rows[i - 1].name == "layer1.0.bn2")
    assert rows[first_sum].name == "layer1.0.relu"
    assert all(r.rf is None for r in rows[first_sum:])
    assert all(r.rf is not None for r in rows[:first_sum])


def test_downsample_branch_gets_the_field_of_the_block_input():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
            self.skip = nn.Conv2d(1, 1, 1)

        def forward(self, x):
            return self.main(x) + self.skip(x)

    model = nn.Sequential(Block(), nn.Conv2d(1, 1, 3))
    rows = summary(model, (1, 1, 16, 16)).rows
    assert [(r.name, None if r.rf is None else r.rf.size) for r in rows] == [
        ("0.main.0", 3), ("0.main.1", 5), ("0.skip", 1), ("1", None)]


def test_in_place_functional_ops_stop_tracking():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3)
            self.b = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.b(F.relu(self.a(x), inplace=True))

    rows = summary(Net(), (1, 1, 9, 9)).rows
    assert rows[0].rf.size == 3 and rows[1].rf is None


def test_non_square_unbatched_and_uneven_adaptive_pool():
    model = nn.Sequential(nn.Conv2d(1, 2, (3, 5)), nn.AdaptiveAvgPool2d((None, 3)), nn.AdaptiveMaxPool2d(2))
    result = summary(model, (1, 12, 16))                  # unbatched (C, H, W)
    conv, pool, uneven = result.rows
    assert conv.rf == RF((3, 5), 1, (1, 2)) and conv.macs == 15 * 2 * 10 * 12
    # 12 columns into 3: a pooling with kernel = stride = 4 along the width only
    assert pool.output_shape == (2, 10, 3) and pool.rf == RF((3, 8), (1, 4), (1, 3.5))
    assert uneven.rf is None         # 3 columns into 2 needs overlapping windows of unequal size
    assert "3x5" in str(result).splitlines()[2]


def test_macs_of_other_layers_match_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    model = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), nn.Flatten(0, 1),
                          nn.Conv1d(13, 8, 3), nn.Linear(11, 5))
    x = torch.zeros(1, 4, 6, 6)
    result = summary(model, x)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert 2 * result.total_macs == counter.get_total_flops()
    assert [r.macs is None for r in result.rows] == [False, True, False, False]


def test_shared_module_and_parameters_outside_leaves():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))       # held by a non-leaf module
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x)) * self.scale

    result = summary(Net(), (1, 1, 8, 8))
    assert [(r.name, r.params, r.rf.size) for r in result.rows] == [("conv", 10, 3), ("conv", 0, 5)]
    assert result.total_params == 11


def test_leaf_model_frozen_params_and_non_tensor_output():
    conv = nn.Conv2d(3, 8, 3).requires_grad_(False)
    result = summary(conv, (1, 3, 5, 5))
    assert result.rows[0].name == "" and str(result).splitlines()[2].startswith("(model)")
    assert (result.total_params, result.trainable_params) == (224, 0)
    assert "Non-trainable params: 224" in str(result)

    class Nothing(nn.Module):
        def forward(self, x):
            return None

    row = summary(nn.Sequential(nn.Identity(), Nothing()), (1, 2)).rows[1]
    assert row.output_shape is None and row.rf is None and row.macs is None
    assert summary(nn.LSTM(4, 3), (5, 1, 4)).rows[0].output_shape == (5, 1, 3)   # first tensor of a tuple


def test_big_numbers_are_human_readable():
    with torch.device("meta"):
        model = torchvision.models.alexnet()
    text = str(summary(model, (1, 3, 224, 224)))
    assert "Total params:         61,100,840" in text
    assert "Total MACs:           714,188,480 (714.19 M)" in text
    assert "(20.00 M)" in str(summary(nn.Linear(5000, 4000, device="meta"), (1, 5000)))
    assert "(60)" in str(summary(nn.Linear(6, 10), (1, 6)))


@pytest.mark.parametrize("model, size, error, name", [
    ("not a model", (1, 3), TypeError, "model"),
    (nn.Linear(3, 2), (1, 0), TypeError, "input_size"),
    (nn.Linear(3, 2), 3, TypeError, "input_size"),
    (nn.Linear(3, 2), (1, 3.0), TypeError, "input_size"),
    (nn.Linear(3, 2), (), TypeError, "input_size"),
])
def test_summary_errors(model, size, error, name):
    with pytest.raises(error, match=name):
        summary(model, size)


@pytest.mark.parametrize("device", ["meta", None])
def test_summary_names_input_size_and_the_failing_layer(device):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    with pytest.raises(ValueError, match=r"input_size \(1, 1, 8, 8\) does not fit the model: layer '0' \(Conv2d\(3, 8"):
        summary(model, (1, 1, 8, 8), device=device)
    with pytest.raises(ValueError, match=r"input_size \(2, 3, 9, 9\) does not fit the model: layer '3' \(Linear.*\(2, 392\)"):
        summary(model, (2, 3, 9, 9), device=device)
    assert summary(model, (2, 3, 8, 8), device=device).rows[-1].output_shape == (2, 10)


class _Residual(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = torch.nn.Conv2d(1, 1, 3, padding=1)
        self.d = torch.nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.d(self.c(x) + x)


def test_rf_legend_is_printed_only_when_a_feature_map_shows_a_dash():
    from cnnlib.shapes.summary_table import RF_LEGEND

    branched = summary(_Residual(), (1, 1, 8, 8))
    assert branched.untracked_maps() == ["d"]
    assert str(branched).endswith(RF_LEGEND) and RF_LEGEND in branched.to_markdown()
    chain = summary(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(72, 2)),
                    (1, 1, 8, 8))
    assert chain.untracked_maps() == []          # the linear layer's "-" has no spatial extent
    assert RF_LEGEND not in str(chain) and RF_LEGEND not in chain.to_markdown()

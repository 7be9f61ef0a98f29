"""The block diagrams (cnnlib.diagrams + tools/make_diagrams.py -> notebooks/figures/*.svg).

- the committed SVGs are what the script writes today (byte for byte: deterministic output);
- every diagram's labels (read back from the SVG's <text> elements) are the numbers the real
  cnnlib models give, computed here independently of the script (forward passes, formulas);
- the labels follow the model: another configuration gives other labels (nothing is typed);
- no diagram has overlapping text or text outside its box;
- cnnlib.diagrams' functions refuse bad input with an error that names the argument;
- every figure a notebook references exists.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from cnnlib import diagrams as D
from cnnlib.models import alexnet as alexnet_models
from cnnlib.models.autoencoder import build_autoencoder
from cnnlib.models.densenet import dense_channels, small_densenet
from cnnlib.models.googlenet import INCEPTION_CONFIGS, Inception
from cnnlib.models.lenet import LeNet
from cnnlib.models.resnet import BasicBlock
from cnnlib.models.vgg import vgg_block
from cnnlib.shapes import receptive_field

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "notebooks" / "figures"
spec = importlib.util.spec_from_file_location("make_diagrams", ROOT / "tools" / "make_diagrams.py")
make = importlib.util.module_from_spec(spec)
sys.modules["make_diagrams"] = make
spec.loader.exec_module(make)


def shape(t: torch.Tensor) -> str:
    return "x".join(str(d) for d in t.shape[1:])


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("figures")
    make.write_all(out)
    return out


def texts(name: str) -> list[str]:
    return D.svg_texts(FIGURES / f"{name}.svg")


def test_committed_svgs_are_up_to_date(fresh):
    written = sorted(p.name for p in fresh.glob("*.svg"))
    committed = sorted(p.name for p in FIGURES.glob("*.svg"))
    assert written == committed == sorted(f"{n}.svg" for n in make.BUILDERS)
    stale = [n for n in written if (fresh / n).read_bytes() != (FIGURES / n).read_bytes()]
    assert not stale, f"notebooks/figures is out of date for {stale}: run python tools/make_diagrams.py"


def test_svg_output_is_deterministic_and_dateless():
    fig = make.vgg()
    a, b = D.svg_bytes(fig), D.svg_bytes(make.vgg())
    assert a == b
    assert b"<dc:date>" not in a and b"Matplotlib v" not in a
    assert b"<text" in a, "text must stay text (svg.fonttype none), so that tests and search can read it"


@pytest.mark.parametrize("name", list(make.BUILDERS))
def test_layout_is_clean(name):
    assert D.layout_problems(make.BUILDERS[name]()) == []


def test_lenet_labels_are_the_model_shapes():
    model = LeNet().eval()
    x = torch.zeros(1, 1, 28, 28)
    f = model.features
    with torch.no_grad():
        maps = [x, f.conv1(x)]
        maps.append(f.pool1(f.act1(maps[-1])))
        maps.append(f.conv2(maps[-1]))
        maps.append(f.pool2(f.act2(maps[-1])))
        flat = maps[-1].flatten(1)
        h1 = model.classifier.fc1(flat)
    expected = [shape(m) for m in maps] + [str(flat.shape[1]), str(h1.shape[1]),
                                           str(model.classifier.fc2.out_features), "10"]
    assert expected[:5] == ["1x28x28", "6x28x28", "6x14x14", "16x10x10", "16x5x5"]   # the notes' figures
    found = texts("lenet")
    assert all(e in found for e in expected), set(expected) - set(found)
    assert "5x5, pad 2" in found and "+ ReLU" in found


def test_lenet_labels_follow_the_model():
    found = D.svg_texts(D.svg_bytes(make.lenet(LeNet(channels=(4, 8), hidden=(50, 30), activation="tanh"))))
    assert {"4x28x28", "4x14x14", "8x10x10", "8x5x5", "200", "50", "30", "+ Tanh"} <= set(found)
    assert "6x28x28" not in found


def test_alexnet_labels_are_each_gpus_half():
    with torch.device("meta"):
        model = alexnet_models.alexnet("paper")
    x = torch.zeros(1, 3, 227, 227, device="meta")
    outs, h = [], x
    for m in model.features:
        h = m(h)
        outs.append(h)
    conv_at = [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)] + [len(model.features)]
    stage_out = [outs[j - 1] for j in conv_at[1:]]
    halves = [f"{t.shape[1] // 2}x{t.shape[2]}x{t.shape[3]}" for t in stage_out]
    assert halves == ["48x27x27", "128x13x13", "192x13x13", "192x13x13", "128x6x6"]  # the paper's Figure 2
    found = texts("alexnet_two_gpus")
    assert all(found.count(hv) >= 2 for hv in halves)           # one per GPU row
    assert {"fc6: 4096", "fc7: 4096", "fc8: 1000", "3x227x227", "GPU 1", "GPU 2"} <= set(found)
    grouped = [i + 1 for i, m in enumerate(m for m in model.features if isinstance(m, nn.Conv2d)) if m.groups == 2]
    assert grouped == [2, 4, 5]


def test_vgg_block_labels():
    block = vgg_block(2, 64, 128)
    x = torch.zeros(1, 64, 112, 112)
    with torch.no_grad():
        a = block[1](block[0](x))
        b = block[3](block[2](a))
        c = block[4](b)
    found = texts("vgg_block")
    assert [shape(x), shape(a), shape(b), shape(c)] == ["64x112x112", "128x112x112", "128x112x112", "128x56x56"]
    assert found.count("128x112x112") == 2 and {"64x112x112", "128x56x56"} <= set(found)
    assert "A VGG block: vgg_block(2, 64, 128)" in found and found.count("conv 3x3, 128") == 2


def test_receptive_field_labels_and_cells():
    stacked = receptive_field([(3, 1, 1), (3, 1, 1)])[-1].size
    single = receptive_field([(5, 1, 2)])[-1].size
    assert stacked == single == 5
    found = " ".join(texts("receptive_field_3x3"))
    assert f"receptive field {stacked}x{stacked}, 2 ReLUs" in found and f"receptive field {single}x{single}, 1 ReLU" in found
    # the dark cells: 25 input cells for the stack's centre output, 9 in the middle map, 25 for the 5x5
    fig = make.receptive_field_3x3()
    dark = matplotlib.colors.to_rgba(D.KINDS["conv"][1])
    filled = [p for p in fig.axes[0].patches if isinstance(p, matplotlib.patches.Rectangle)
              and np.allclose(p.get_facecolor()[:3], dark[:3])]
    assert len(filled) == 25 + 9 + 25


def test_inception_labels_are_the_branch_shapes():
    cfg = INCEPTION_CONFIGS["3a"]
    block = Inception(*cfg)
    x = torch.zeros(1, cfg[0], 28, 28)
    with torch.no_grad():
        outs = [block.branch1(x), block.branch2(x), block.branch3(x), block.branch4(x)]
        mids = [block.branch2[0](x), block.branch3[0](x), block.branch4[0](x)]
        total = block(x)
    found = texts("inception_block")
    for t in outs + mids + [x, total]:
        assert shape(t) in found, shape(t)
    assert {"1x1 conv, 96", "(3x3 reduce)", "1x1 conv, 16", "(5x5 reduce)", "(pool proj)"} <= set(found)
    assert shape(total) == "256x28x28"


def test_residual_labels():
    first, second = BasicBlock(128, 256, stride=2).eval(), BasicBlock(256, 256).eval()
    x = torch.zeros(1, 128, 28, 28)
    with torch.no_grad():
        y = first(x)
        z = second(y)
        proj = first.downsample(x)
    found = texts("residual_blocks")
    assert {shape(x), shape(y), shape(z), shape(proj)} <= set(found)
    assert "projection: conv 1x1, 256, stride 2 + BN" in found
    assert "identity shortcut: x itself (no parameters)" in found
    assert second.downsample is None and first.downsample is not None


def test_dense_block_labels_grow_by_k():
    model = small_densenet(**make.NB11_DENSE)
    k, c0, n = 8, 16, 4
    trace = dict(dense_channels(c0, (n,) * 2, k))
    found = texts("dense_block")
    expected = [f"{c0 + l * k} ch" for l in range(n + 1)]
    assert expected[-1] == f"{trace['block1']} ch" == f"{model.features.denseblock1.out_channels} ch"
    assert all(e in found for e in expected)
    assert f"{trace['transition1']} ch" in found and "14x14" in found and "7x7" in found
    assert found.count(f"3x3 conv, {k}") == n
    dense = [f for f in found if f.startswith("1x1 conv, ")]
    assert dense == [f"1x1 conv, {4 * k}"] * n + [f"1x1 conv, {trace['transition1']}"]  # bottlenecks, transition


def test_dense_block_follows_the_model():
    found = D.svg_texts(D.svg_bytes(make.dense_block(small_densenet(growth_rate=6, num_init_features=10))))
    assert {"10 ch", "16 ch", "22 ch", "28 ch", "34 ch", "17 ch"} <= set(found)


def test_autoencoder_labels_and_three_decoders():
    x = torch.zeros(1, 1, 28, 28)
    model = build_autoencoder("unpool", (8, 4))
    enc = model.encoder
    with torch.no_grad():
        a = torch.relu(enc.conv1(x))
        p1 = enc.pool(a)[0]
        b = torch.relu(enc.conv2(p1))
        code = enc.pool(b)[0]
        t1 = build_autoencoder("transpose", (8, 4)).decoder.deconv1(code)
    found = texts("autoencoder_decoders")
    for t in (x, a, p1, b, code, t1):
        assert shape(t) in found
    joined = " ".join(found)
    assert "max unpool x2" in joined and "nearest or bilinear" in joined and "transposed conv 3x3" in joined
    assert sum(f == "output" for f in found) == 3, "one output per decoder"


def test_every_referenced_figure_exists():
    import nbformat

    missing = []
    for nb_path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for ref in re.findall(r"\]\((figures/[^)\s]+)\)", cell.source):
                if not (nb_path.parent / ref).is_file():
                    missing.append(f"{nb_path.name}: {ref}")
    assert not missing, missing


# ---- cnnlib.diagrams itself ---------------------------------------------------------------

def test_layout_check_finds_overlaps_and_overflow():
    fig, ax = D.canvas(4, 2)
    D.note(ax, (1, 1), "one label")
    D.note(ax, (1.05, 1.02), "another label")
    D.box(ax, (3, 1), "a long text in a box", width=0.5)
    D.note(ax, (3.9, 1.9), "leaves the figure", ha="left")
    found = D.layout_problems(fig)
    assert any("overlaps 'another label'" in p for p in found)
    assert any("does not fit its box" in p for p in found)
    assert any("leaves the figure" in p for p in found)


def test_boxes_arrows_and_text_round_trip(tmp_path):
    fig, ax = D.canvas(5, 2)
    a = D.box(ax, (1, 1), "conv 3x3\n& <ReLU>", kind="conv")
    b = D.box(ax, (4, 1), "pool", kind="pool")
    D.connect(ax, a, b, label="8x28x28")
    assert a.anchor("right") == (a.x + a.w / 2, a.y) and b.left > a.right
    path = D.save_svg(fig, tmp_path / "t.svg")
    assert D.svg_texts(path) == ["conv 3x3", "& <ReLU>", "pool", "8x28x28"]
    assert D.svg_texts(path.read_text()) == D.svg_texts(path.read_bytes())


def test_trace_shapes_records_output_shapes():
    shapes = D.trace_shapes(LeNet(), torch.zeros(2, 1, 28, 28), ["features.pool2", "classifier.fc3"])
    assert shapes == {"features.pool2": (16, 5, 5), "classifier.fc3": (10,)}
    assert D.shape_text(shapes["features.pool2"]) == "16x5x5" and D.shape_text(torch.Size([400])) == "400"


def test_flow_spreads_boxes_and_refuses_what_does_not_fit():
    fig, ax = D.canvas(6, 1)
    boxes = D.flow(ax, ["a", "b", "c"], ["1x2x2", None], y=0.5, left=0.2, right=5.8)
    assert boxes[0].left == pytest.approx(0.2) and boxes[-1].right == pytest.approx(5.8)
    rev = D.flow(ax, ["a", "b"], ["x"], y=0.5, left=0.2, right=5.8, reverse=True)
    assert rev[0].x > rev[1].x
    with pytest.raises(ValueError, match="left=0.2 to right=1"):
        D.flow(ax, ["a long box", "another long box"], ["a long label"], y=0.5, left=0.2, right=1.0)


@pytest.mark.parametrize("call, name", [
    (lambda ax: D.canvas(-1, 2), "width"),
    (lambda ax: D.canvas(3, "2"), "height"),
    (lambda ax: D.box(None, (0, 0), "x"), "ax"),
    (lambda ax: D.box(matplotlib.figure.Figure().add_subplot(), (0, 0), "x"), "ax"),
    (lambda ax: D.box(ax, "here", "x"), "xy"),
    (lambda ax: D.box(ax, (0, float("nan")), "x"), "xy[1]"),
    (lambda ax: D.box(ax, (0, 0), 3), "text"),
    (lambda ax: D.box(ax, (0, 0), "x", kind="laser"), "kind"),
    (lambda ax: D.box(ax, (0, 0), "x", width=0), "width"),
    (lambda ax: D.row(ax, [], 1, 0, 2), "texts"),
    (lambda ax: D.row(ax, ["a", "b"], 1, 2, 0), "right"),
    (lambda ax: D.row(ax, ["a", "b"], 1, 0, 0.3), "min_gap"),
    (lambda ax: D.row(ax, ["a"], 1, 0, 2, kinds=["conv", "pool"]), "kinds"),
    (lambda ax: D.flow(ax, ["a", "b"], [], 1, 0, 2), "labels"),
    (lambda ax: D.flow(ax, ["a", "b"], ["x"], 1, 0, 2, reverse=1), "reverse"),
    (lambda ax: D.arrow(ax, (0, 0), (1, 1), label_side="inside"), "label_side"),
    (lambda ax: D.arrow(ax, (0, 0), (1, 1), label=5), "label"),
    (lambda ax: D.path_arrow(ax, [(0, 0)]), "points"),
    (lambda ax: D.path_arrow(ax, [(0, 0), (1, 0)], label="x", label_segment=1), "label_segment"),
    (lambda ax: D.connect(ax, (0, 0), (1, 1)), "a"),
    (lambda ax: D.connect(ax, D.box(ax, (0.5, 0.5), "a"), D.box(ax, (2, 0.5), "b"), sides="right"), "sides"),
    (lambda ax: D.note(ax, (0, 0), "x", ha="justify"), "ha"),
    (lambda ax: D.title(ax, None), "text"),
    (lambda ax: D.frame(ax, 1, 0, 0, 1), "frame"),
    (lambda ax: D.grid(ax, (0, 0), (2, 2), mark=np.ones((3, 3), bool)), "mark"),
    (lambda ax: D.grid(ax, (0, 0), (0, 2)), "shape[0]"),
    (lambda ax: D.trace_shapes(nn.Linear(2, 2), [1.0], ["weight"]), "x"),
    (lambda ax: D.trace_shapes(LeNet(), torch.zeros(1, 1, 28, 28), ["features.conv9"]), "names"),
    (lambda ax: D.shape_text((6, 0, 28)), "shape entry"),
    (lambda ax: D.shape_text("6x28x28"), "shape"),
    (lambda ax: D.layout_problems("figure"), "fig"),
    (lambda ax: D.save_svg(ax.figure, ROOT / "x.png"), "path"),
    (lambda ax: D.save_svg(ax.figure, 3), "path"),
    (lambda ax: D.svg_texts(b"<svg"), "svg"),
    (lambda ax: D.svg_texts(3.0), "svg"),
    (lambda ax: D.text_size(ax, "x", fontsize=0), "fontsize"),
    (lambda ax: D.Box(0, 0, 1, 1).anchor("middle"), "side"),
])
def test_bad_input_names_the_argument(call, name):
    _, ax = D.canvas(3, 2)
    with pytest.raises((TypeError, ValueError)) as err:
        call(ax)
    assert name in str(err.value), str(err.value)


def test_docstring_example():
    import doctest

    assert doctest.testmod(D).failed == 0

#!/usr/bin/env python3
"""Write the course's block diagrams to ``notebooks/figures/*.svg``, drawn from the models.

    python tools/make_diagrams.py              # all diagrams into notebooks/figures/
    python tools/make_diagrams.py --out DIR    # elsewhere (tests compare with the committed ones)
    python tools/make_diagrams.py lenet vgg_block

Every number on a diagram (shapes, channels, kernel sizes, strides) is read off the real
``cnnlib.models`` module or recorded by running a dummy input through it
(:func:`cnnlib.diagrams.trace_shapes`), so the diagrams cannot drift from the code. The
output is deterministic: rerunning gives the same bytes (see
:func:`cnnlib.diagrams.svg_bytes`). Each builder returns the matplotlib figure; the
notebooks show the SVGs from markdown cells (``![...](figures/<name>.svg)``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cnnlib import diagrams as D  # noqa: E402
from cnnlib.models import alexnet as alexnet_models  # noqa: E402
from cnnlib.models import autoencoder as ae_models  # noqa: E402
from cnnlib.models.densenet import DenseNet, small_densenet  # noqa: E402
from cnnlib.models.googlenet import INCEPTION_CONFIGS, Inception  # noqa: E402
from cnnlib.models.lenet import LeNet  # noqa: E402
from cnnlib.models.resnet import BasicBlock, resnet18  # noqa: E402
from cnnlib.models.vgg import vgg_block  # noqa: E402
from cnnlib.shapes import receptive_field  # noqa: E402

OUT = ROOT / "notebooks" / "figures"
S = D.shape_text


def _k(conv: nn.Module) -> str:
    """'5x5' from a conv's kernel_size."""
    kh, kw = conv.kernel_size if isinstance(conv.kernel_size, tuple) else (conv.kernel_size,) * 2
    return f"{kh}x{kw}"


def _layer_names(module: nn.Module) -> list[str]:
    """Short names of a module's layers in order: 'BN', 'ReLU', '1x1 conv', 'avg pool 2x2'."""
    out = []
    for m in module.children():
        if isinstance(m, nn.BatchNorm2d):
            out.append("BN")
        elif isinstance(m, nn.ReLU):
            out.append("ReLU")
        elif isinstance(m, nn.Conv2d):
            out.append(f"{_k(m)} conv")
        elif isinstance(m, nn.AvgPool2d):
            out.append(f"avg pool {m.kernel_size}x{m.kernel_size}")
        else:
            out.append(type(m).__name__)
    return out


def _first(v) -> int:
    return v[0] if isinstance(v, tuple) else v


# ---- LeNet ---------------------------------------------------------------------------------

def lenet(model: LeNet | None = None, input_size: int = 28) -> "D.Figure":
    """LeNet's pipeline: the feature extractor on top, the classifier below, the shape of
    the tensor on every arrow (recorded from ``model`` on one input_size x input_size image)."""
    model = model if model is not None else LeNet()
    f, c = model.features, model.classifier
    names = ["features.conv1", "features.pool1", "features.conv2", "features.pool2", "flatten",
             "classifier.fc1", "classifier.fc2", "classifier.fc3"]
    x = torch.zeros(1, f.conv1.in_channels, input_size, input_size)
    sh = D.trace_shapes(model, x, names)
    act = type(f.act1).__name__
    pool = "max" if isinstance(f.pool1, nn.MaxPool2d) else "avg"
    fig, ax = D.canvas(10, 4)
    D.title(ax, f"LeNet (cnnlib.models.lenet.LeNet): one {input_size}x{input_size} image, layer by layer")
    pad1 = _first(f.conv1.padding)
    top = D.row(ax, ["input\nimage", f"conv1\n{_k(f.conv1)}" + (f", pad {pad1}" if pad1 else "") + f"\n+ {act}",
                     f"pool1\n{pool} {_first(f.pool1.kernel_size)}x{_first(f.pool1.kernel_size)}\nstride {_first(f.pool1.stride)}",
                     f"conv2\n{_k(f.conv2)}\n+ {act}",
                     f"pool2\n{pool} {_first(f.pool2.kernel_size)}x{_first(f.pool2.kernel_size)}\nstride {_first(f.pool2.stride)}"],
                y=2.65, left=0.3, right=8.75, kinds=["data", "conv", "pool", "conv", "pool"])
    labels = [S(x.shape[1:]), S(sh["features.conv1"]), S(sh["features.pool1"]), S(sh["features.conv2"])]
    for a, b, lab in zip(top, top[1:], labels):
        D.connect(ax, a, b, label=lab)
    bottom = D.row(ax, ["flatten", f"fc1\n+ {act}", f"fc2\n+ {act}", "fc3", "logits\n(no softmax)"],
                   y=0.85, left=2.1, right=9.55, kinds=["fc", "fc", "fc", "fc", "data"])
    D.path_arrow(ax, [top[-1].anchor("right"), (9.45, top[-1].y), (9.45, 1.75), (1.3, 1.75), (1.3, bottom[0].y),
                      bottom[0].anchor("left")], label=S(sh["features.pool2"]), label_segment=2)
    labels = [S(sh["flatten"]), S(sh["classifier.fc1"]), S(sh["classifier.fc2"]), S(sh["classifier.fc3"])]
    for a, b, lab in zip(bottom, bottom[1:], labels):
        D.connect(ax, a, b, label=lab)
    D.note(ax, (0.45, 3.45), "features: convolutions and pooling", ha="left", color="#555555")
    D.note(ax, (2.1, 0.22), "classifier: dense layers; arrows carry the tensor shape (channels x height x width)",
           ha="left", color="#555555")
    return fig


# ---- AlexNet on two GPUs ----------------------------------------------------------------------

def alexnet_two_gpus(stages=alexnet_models.PAPER_STAGES, input_size: int = 227) -> "D.Figure":
    """The paper's AlexNet as two GPU rows: a grouped (``groups=2``) layer reads only its own
    GPU's half of the channels; conv1 (the image), conv3 and the dense layers read both."""
    with torch.device("meta"):     # shapes only: no 240 MB of weights
        model = alexnet_models.AlexNet(stages, input_size=input_size)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    # the output of each stage = the module before the next conv (or the last module)
    idx = [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)] + [len(model.features)]
    stage_out = [str(j - 1) for j in idx[1:]]
    names = [f"features.{n}" for n in stage_out] + ["classifier.1", "classifier.4", "classifier.6"]
    x = torch.zeros(1, convs[0].in_channels, input_size, input_size, device="meta")
    sh = D.trace_shapes(model, x, names)
    fig, ax = D.canvas(12, 5)
    D.title(ax, "AlexNet (2012) split over two GPUs: groups=2 keeps each half on its own GPU")
    y_gpu = (3.6, 1.72)
    fs = 11
    img_text = f"image\n{S(x.shape[1:])}"
    w_img = D.text_size(ax, img_text, fs)[0] + 2 * D.PAD
    img = D.box(ax, (0.15 + w_img / 2, (y_gpu[0] + y_gpu[1]) / 2), img_text, kind="data", fontsize=fs)
    texts = []
    for i, (st, conv) in enumerate(zip(stages, convs)):
        extra = " + ".join((["LRN"] if st.lrn else []) + (["pool"] if st.pool else []))
        lines = [f"conv{i + 1} {_k(conv)}"] + ([f"stride {st.stride}"] if st.stride > 1 else []) + \
            [f"{conv.out_channels // 2} filters"] + ([f"+ {extra}"] if extra else [])
        texts.append("\n".join(lines))
    w_conv = max(D.text_size(ax, t, fs)[0] for t in texts) + 2 * D.PAD
    h_conv = max(D.text_size(ax, t, fs)[1] for t in texts) + 2 * D.PAD
    x0, step = img.right + 0.45 + w_conv / 2, w_conv + 0.42
    xs = [x0 + step * i for i in range(len(stages))]
    for g, y in enumerate(y_gpu):
        D.frame(ax, xs[0] - w_conv / 2 - 0.15, y - h_conv / 2 - 0.42, xs[-1] + w_conv / 2 + 0.15,
                y + h_conv / 2 + 0.38, label=f"GPU {g + 1}")
    prev = [img, img]
    cross = "#c0392b"
    for i, (conv, out) in enumerate(zip(convs, stage_out)):
        c, hh, ww = sh[f"features.{out}"]
        boxes = [D.box(ax, (xs[i], y), texts[i], kind="conv", width=w_conv, height=h_conv, fontsize=fs)
                 for y in y_gpu]
        for b in boxes:
            D.note(ax, (b.x, b.bottom - 0.2), f"{c // 2}x{hh}x{ww}", fontsize=10.5)
        for g in range(2):
            if conv.groups == 2:
                D.connect(ax, prev[g], boxes[g])
            else:
                for h in range(2):
                    src = prev[h]
                    D.arrow(ax, src.anchor("right"), boxes[g].anchor("left"),
                            color=cross if src is not img else D.ARROW_COLOR)
        prev = boxes
    fc_names = ["classifier.1", "classifier.4", "classifier.6"]
    fc_text = "\n".join(f"fc{6 + j}: {sh[n][0]}" for j, n in enumerate(fc_names))
    w = D.text_size(ax, fc_text, fs)[0] + 2 * D.PAD
    fc = D.box(ax, (xs[-1] + w_conv / 2 + 0.6 + w / 2, (y_gpu[0] + y_gpu[1]) / 2), fc_text, kind="fc", width=w,
               height=y_gpu[0] - y_gpu[1] + h_conv, fontsize=fs)
    D.note(ax, (fc.x, fc.top + 0.2), "dense layers", fontsize=10.5)
    for h in range(2):
        D.arrow(ax, prev[h].anchor("right"), (fc.left, prev[h].y), color=cross)
    D.note(ax, (0.2, 0.42), "black: a grouped conv (groups=2) reads only the channels on its own GPU; "
           "conv1 reads the whole image on both\nred: conv3 and fc6 read the channels of both GPUs (the GPUs "
           "exchange data); under each box: its output on one GPU", ha="left", fontsize=10.5)
    return fig


# ---- VGG ---------------------------------------------------------------------------------------

def vgg(num_convs: int = 2, in_channels: int = 64, out_channels: int = 128, size: int = 112) -> "D.Figure":
    """A VGG block (``vgg_block(num_convs, in_channels, out_channels)``) with its shapes."""
    block = vgg_block(num_convs, in_channels, out_channels)
    names = [str(i) for i, m in enumerate(block) if isinstance(m, (nn.ReLU, nn.MaxPool2d))]
    x = torch.zeros(1, in_channels, size, size)
    sh = D.trace_shapes(block, x, names)
    fig, ax = D.canvas(11, 2.9)
    D.title(ax, f"A VGG block: vgg_block({num_convs}, {in_channels}, {out_channels})")
    texts, kinds, labels = ["input"], ["data"], [S(x.shape[1:])]
    for i, m in enumerate(block):
        if isinstance(m, nn.Conv2d):
            texts.append(f"conv {_k(m)}, {m.out_channels}\npad {_first(m.padding)} + ReLU")
            kinds.append("conv")
            labels.append(S(sh[str(i + 1)]))
        elif isinstance(m, nn.MaxPool2d):
            texts.append(f"max pool\n{m.kernel_size}x{m.kernel_size}, stride {m.stride}")
            kinds.append("pool")
            labels.append(S(sh[str(i)]))
    texts.append("output")
    kinds.append("data")
    D.flow(ax, texts, labels, y=1.3, left=0.25, right=10.75, kinds=kinds)
    strides = sorted({_first(m.stride) for m in block if isinstance(m, nn.Conv2d)})
    D.note(ax, (5.5, 0.35), f"the convolutions (stride {strides[0]}) keep height and width; the pooling halves them",
           color="#555555")
    return fig


def receptive_field_3x3(size: int = 7) -> "D.Figure":
    """Two stacked 3x3 convolutions vs one 5x5: which input pixels the centre output depends
    on (back-propagated through real ``nn.Conv2d`` layers), and the receptive field size
    from ``cnnlib.shapes.receptive_field``."""
    def depends(layers: list[nn.Conv2d]) -> list[np.ndarray]:
        """Masks of the cells each map's centre output depends on, input map first."""
        x = torch.zeros(1, 1, size, size, requires_grad=True)
        maps, h = [x], x
        for layer in layers:
            nn.init.constant_(layer.weight, 1.0)
            h = layer(h)
            h.retain_grad()
            maps.append(h)
        maps[-1][0, 0, size // 2, size // 2].backward()
        masks = [(m.grad[0, 0] != 0).numpy() for m in maps[:-1]]
        out = np.zeros((size, size), dtype=bool)
        out[size // 2, size // 2] = True
        return masks + [out]

    stack = [nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(2)]
    single = [nn.Conv2d(1, 1, 5, padding=2, bias=False)]
    rf_stack = receptive_field(stack)[-1].size
    rf_single = receptive_field(single)[-1].size
    fig, ax = D.canvas(10, 4.2)
    D.title(ax, f"Two stacked 3x3 convolutions see {rf_stack}x{rf_stack} input pixels, like one 5x5 convolution")
    cell = 0.2
    side = size * cell

    def panel(x0: float, layers: list[nn.Conv2d], captions: list[str], heading: str) -> None:
        masks = depends(layers)
        extents = []
        for i, (m, cap) in enumerate(zip(masks, captions)):
            left = x0 + i * (side + 0.55)
            extents.append(D.grid(ax, (left, 1.0), (size, size), cell, mark=m,
                                  kind="conv" if i < len(masks) - 1 else "merge"))
            D.note(ax, (left + side / 2, 0.7), cap)
        for (m0, e0), (m1, e1) in zip(zip(masks, extents), zip(masks[1:], extents[1:])):
            r0, c0 = np.nonzero(m0)
            r1, c1 = np.nonzero(m1)
            y_top0 = e0[3] - r0.min() * cell
            y_bot0 = e0[3] - (r0.max() + 1) * cell
            x_r0 = e0[0] + (c0.max() + 1) * cell
            y_top1 = e1[3] - r1.min() * cell
            y_bot1 = e1[3] - (r1.max() + 1) * cell
            x_l1 = e1[0] + c1.min() * cell
            for ya, yb in ((y_top0, y_top1), (y_bot0, y_bot1)):
                D.arrow(ax, (x_r0, ya), (x_l1, yb), style="-", color="#777777", linestyle=":")
        D.note(ax, ((extents[0][0] + extents[-1][2]) / 2, 3.2), heading, weight="bold")

    relus = len(stack)
    panel(0.35, stack, ["input", f"after {_k(stack[0])} #1", f"after {_k(stack[1])} #2"],
          f"{len(stack)} x conv {_k(stack[0])}: receptive field {rf_stack}x{rf_stack}, {relus} ReLUs")
    panel(6.15, single, ["input", f"after {_k(single[0])}"],
          f"1 x conv {_k(single[0])}: receptive field {rf_single}x{rf_single}, 1 ReLU")
    ax.plot([5.82, 5.82], [0.5, 3.4], color="#bbbbbb", linewidth=1)
    D.note(ax, (5.0, 0.25), "dark cells: the pixels the centre output depends on (found by back-propagation)",
           color="#555555")
    return fig


# ---- Inception -------------------------------------------------------------------------------

def inception(name: str = "3a", size: int = 28) -> "D.Figure":
    """An Inception block of GoogLeNet's Table 1 (``INCEPTION_CONFIGS[name]``): four branches,
    the 1x1 reductions in front of the 3x3 and 5x5 convolutions, the concatenation."""
    cfg = INCEPTION_CONFIGS[name]
    block = Inception(*cfg)
    names = ["branch1", "branch2.0", "branch2", "branch3.0", "branch3", "branch4.0", "branch4"]
    x = torch.zeros(1, cfg[0], size, size)
    sh = D.trace_shapes(block, x, names)
    out_shape = tuple(block(x).shape[1:])
    fig, ax = D.canvas(10, 4.6)
    D.title(ax, f"Inception block {name} (GoogLeNet): four branches on one input, concatenated")
    ys = [3.35, 2.5, 1.65, 0.8]
    w_in = D.text_size(ax, f"input\n{S(x.shape[1:])}")[0] + 2 * D.PAD
    inp = D.box(ax, (0.15 + w_in / 2, 2.08), f"input\n{S(x.shape[1:])}", kind="data", height=1.0)
    cat = D.box(ax, (8.0, 2.08), "concat\n(channels)", kind="merge", height=1.0)
    w_out = D.text_size(ax, f"output\n{S(out_shape)}")[0] + 2 * D.PAD
    out = D.box(ax, (9.85 - w_out / 2, 2.08), f"output\n{S(out_shape)}", kind="data", height=1.0)
    D.connect(ax, cat, out)

    def conv_text(seq: nn.Sequential, role: str = "") -> str:
        conv = seq[0]
        return f"{_k(conv)} conv, {conv.out_channels}" + (f"\n({role})" if role else "")

    b1 = block.branch1
    b2r, b2 = block.branch2[0], block.branch2[1]
    b3r, b3 = block.branch3[0], block.branch3[1]
    pool, b4 = block.branch4[0], block.branch4[1]
    k3, k5 = _k(b2[0]), _k(b3[0])
    rows = [
        [(conv_text(b1), "conv")],
        [(conv_text(b2r, f"{k3} reduce"), "conv"), (conv_text(b2), "conv")],
        [(conv_text(b3r, f"{k5} reduce"), "conv"), (conv_text(b3), "conv")],
        [(f"{pool.kernel_size}x{pool.kernel_size} max pool\nstride {pool.stride}", "pool"),
         (conv_text(b4, "pool proj"), "conv")],
    ]
    mids = [None, S(sh["branch2.0"]), S(sh["branch3.0"]), S(sh["branch4.0"])]
    outs = [S(sh["branch1"]), S(sh["branch2"]), S(sh["branch3"]), S(sh["branch4"])]
    bus_in, bus_out = inp.right + 0.3, 7.25
    ax.plot([bus_in, bus_in], [ys[-1], ys[0]], color=D.ARROW_COLOR, linewidth=1.3, zorder=3)
    ax.plot([bus_out, bus_out], [ys[-1], ys[0]], color=D.ARROW_COLOR, linewidth=1.3, zorder=3)
    ax.plot([inp.right, bus_in], [inp.y, inp.y], color=D.ARROW_COLOR, linewidth=1.3, zorder=3)
    D.arrow(ax, (bus_out, cat.y), cat.anchor("left"))
    for y, spec, mid, o in zip(ys, rows, mids, outs):
        if len(spec) == 1:
            bs = [D.box(ax, (3.9, y), spec[0][0], kind=spec[0][1], width=1.45)]
        else:
            bs = [D.box(ax, (2.55, y), spec[0][0], kind=spec[0][1], width=1.45),
                  D.box(ax, (5.25, y), spec[1][0], kind=spec[1][1], width=1.45)]
            D.connect(ax, bs[0], bs[1], label=mid)
        D.arrow(ax, (bus_in, y), bs[0].anchor("left"))
        D.arrow(ax, bs[-1].anchor("right"), (bus_out, y), label=o, style="-")
    D.note(ax, (4.0, 0.22), "every branch keeps height and width, so torch.cat can stack them along the channels",
           color="#555555")
    return fig


# ---- ResNet ------------------------------------------------------------------------------------

def _residual_row(ax, block: BasicBlock, x: torch.Tensor, y: float, heading: str) -> None:
    names = ["conv1", "bn2"] + (["downsample"] if block.downsample is not None else [])
    sh = D.trace_shapes(block, x, names)
    with torch.no_grad():
        out = tuple(block.eval()(x).shape[1:])
    c1, c2 = block.conv1, block.conv2
    s1 = _first(c1.stride)
    boxes = D.flow(ax, ["x", f"conv {_k(c1)}, {c1.out_channels}" + (f", stride {s1}" if s1 > 1 else "") +
                        "\n+ BN + ReLU", f"conv {_k(c2)}, {c2.out_channels}\n+ BN", "+", "ReLU", "out"],
                   [S(x.shape[1:]), S(sh["conv1"]), "F(x)", None, S(out)], y=y, left=0.3, right=10.7,
                   kinds=["data", "conv", "conv", "merge", "norm", "data"], label_side="below")
    x_box, conv_a, conv_b, add, relu, out_box = boxes
    y_sc = y + 0.75
    start = (x_box.right + 0.15, y)
    if block.downsample is None:
        D.path_arrow(ax, [start, (start[0], y_sc), (add.x, y_sc), add.anchor("top")],
                     label="identity shortcut: x itself (no parameters)", label_segment=1)
    else:
        conv = block.downsample[0]
        sc = D.box(ax, ((conv_a.left + conv_b.right) / 2, y_sc),
                   f"projection: conv {_k(conv)}, {conv.out_channels}, stride {_first(conv.stride)} + BN",
                   kind="conv")
        D.path_arrow(ax, [start, (start[0], y_sc), sc.anchor("left")])
        D.path_arrow(ax, [sc.anchor("right"), (add.x, y_sc), add.anchor("top")],
                     label=S(sh["downsample"]), label_segment=0)
    D.note(ax, (0.3, y + 1.18), heading, ha="left", weight="bold")


def residual_blocks(model: nn.Module | None = None, stage: str = "layer3", size: int = 28) -> "D.Figure":
    """The two kinds of residual block, both from ResNet-18's ``stage``: its first block
    (stride 2, projection shortcut) and its second (identity shortcut)."""
    if model is None:
        with torch.device("meta"):     # shapes only: no 11 M weights to initialise
            model = resnet18()
    blocks = model.get_submodule(stage)
    first, second = blocks[0], blocks[1]
    dev = first.conv1.weight.device
    x1 = torch.zeros(1, first.conv1.in_channels, size, size, device=dev)
    with torch.no_grad():
        x2 = torch.zeros((1,) + tuple(first.eval()(x1).shape[1:]), device=dev)
    fig, ax = D.canvas(11, 4.6)
    D.title(ax, "Residual blocks (cnnlib.models.resnet.BasicBlock): out = ReLU(F(x) + shortcut(x))")
    _residual_row(ax, second, x2, 2.55, f"identity shortcut: ResNet-18 {stage}[1] (shapes match)")
    _residual_row(ax, first, x1, 0.45, f"projection shortcut: ResNet-18 {stage}[0] (stride 2, channels change)")
    return fig


# ---- DenseNet ----------------------------------------------------------------------------------

# notebook 11's section 5 trains this DenseNet (its `dense_kwargs`); the diagram draws the same one
NB11_DENSE = dict(growth_rate=8, block_config=(4, 4), num_init_features=16, stem_stride=2)


def dense_block(model: DenseNet | None = None, block: int = 1, size: int = 28) -> "D.Figure":
    """A dense block's channels growing by k per layer (each layer reads the concatenation of
    everything before it) and the transition after it, from ``model`` (default:
    the small DenseNet of notebook 11's section 5, ``small_densenet(**NB11_DENSE)``)."""
    model = model if model is not None else small_densenet(**NB11_DENSE)
    feats = model.features
    blk = feats.get_submodule(f"denseblock{block}")
    trans = feats.get_submodule(f"transition{block}")
    layers = list(blk.children())
    pre = f"features.denseblock{block}"
    names = ([f"{pre}.denselayer{i + 1}.norm1" for i in range(len(layers))] +
             [f"{pre}.denselayer{i + 1}.conv1" for i in range(len(layers))] +
             [f"{pre}.denselayer{i + 1}" for i in range(len(layers))] + [pre, f"features.transition{block}"])
    x = torch.zeros(1, feats.conv0.in_channels, size, size)
    sh = D.trace_shapes(model, x, names)
    c_in = [sh[f"{pre}.denselayer{i + 1}.norm1"][0] for i in range(len(layers))]
    k = [sh[f"{pre}.denselayer{i + 1}"][0] for i in range(len(layers))]
    mid = [sh[f"{pre}.denselayer{i + 1}.conv1"][0] for i in range(len(layers))]
    c_out, hh, ww = sh[pre]
    t_shape = sh[f"features.transition{block}"]
    states = c_in + [c_out]
    fig, ax = D.canvas(10, 4.8)
    D.title(ax, f"A dense block ({len(layers)} layers, growth rate k = {k[0]}) and the transition after it")
    colors = ["#9e9e9e", "#3d6fa8", "#b8782a", "#4b8a3f", "#6e51a0", "#b03a3a", "#2e8a83", "#7f7f3a"]
    unit = 2.3 / c_out           # inches per channel
    base, bar_w, step = 0.95, 0.42, 1.45
    xs = [0.75 + step * i for i in range(len(states))]

    def bar(xc: float, segments: list[int]) -> float:
        from matplotlib.patches import Rectangle
        y = base
        for j, n in enumerate(segments):
            ax.add_patch(Rectangle((xc - bar_w / 2, y), bar_w, n * unit, facecolor=colors[j % len(colors)],
                                   edgecolor="#ffffff", linewidth=1.0, zorder=2))
            y += n * unit
        return y

    tops = []
    for i, xc in enumerate(xs):
        tops.append(bar(xc, [c_in[0]] + k[:i]))
        D.note(ax, (xc, base - 0.2), f"{states[i]} ch")
    D.note(ax, (xs[0], base - 0.47), f"{hh}x{ww}", color="#555555")
    w_h = step - 0.45
    for i in range(len(layers)):
        b = D.box(ax, (xs[i] + 0.05 + w_h / 2, 3.7), f"H{i + 1}\n1x1 conv, {mid[i]}\n3x3 conv, {k[i]}", kind="conv",
                  width=w_h, fontsize=10.5)
        D.arrow(ax, (xs[i] + 0.12, tops[i]), (xs[i] + 0.12, b.bottom))
        D.path_arrow(ax, [b.anchor("right"), (xs[i + 1] - 0.1, b.y), (xs[i + 1] - 0.1, tops[i + 1])],
                     color=colors[(i + 1) % len(colors)])
        D.arrow(ax, (xs[i] + bar_w / 2, base + 0.3), (xs[i + 1] - bar_w / 2, base + 0.3), linestyle="--",
                label="copy", label_side="above", fontsize=10)
    conv = trans.conv
    pool = trans.pool
    tnames = _layer_names(trans)
    assert tnames[2].endswith("conv") and tnames[3].startswith("avg pool"), tnames
    tb = D.box(ax, (xs[-1] + 1.45, 1.9), f"transition\n{tnames[0]} + {tnames[1]}\n{tnames[2]}, {conv.out_channels}\n"
               f"{tnames[3]}, /{pool.stride}", kind="pool", width=1.35)
    D.arrow(ax, (xs[-1] + bar_w / 2, tb.y), tb.anchor("left"))
    xo = tb.right + 0.45
    top_o = bar(xo, [t_shape[0]])
    D.arrow(ax, tb.anchor("right"), (xo - bar_w / 2, tb.y))
    D.note(ax, (xo, base - 0.2), f"{t_shape[0]} ch")
    D.note(ax, (xo, base - 0.47), f"{t_shape[1]}x{t_shape[2]}", color="#555555")
    D.note(ax, (4.9, 0.17), f"each layer H reads all channels so far and adds k = {k[0]}: {c_in[0]} + l·{k[0]} "
           f"channels after l layers\nH = " + ", ".join(_layer_names(layers[0])), color="#555555",
           fontsize=10.5)
    return fig


# ---- autoencoder -------------------------------------------------------------------------------

def autoencoder_decoders(channels: tuple[int, int] = (8, 4), size: int = 28) -> "D.Figure":
    """One encoder and the three ways its decoders double the size twice (upsampling + conv,
    transposed convolution, max unpooling with the encoder's indices), as in notebook 12.

    Encoder left to right on top; each decoder right to left below it, under the encoder
    step it undoes (U-shaped), shapes recorded from ``build_autoencoder``."""
    models = {m: ae_models.build_autoencoder(m, channels, size=size)
              for m in ("nearest", "bilinear", "transpose", "unpool")}
    x = torch.zeros(1, 1, size, size)
    enc = D.trace_shapes(models["nearest"], x, ["encoder.conv1", "encoder.conv2"])
    e = models["nearest"].encoder
    p1 = (enc["encoder.conv1"][0],) + tuple(v // 2 for v in enc["encoder.conv1"][1:])
    code = tuple(models["nearest"].encode(x).shape[1:])
    fig, ax = D.canvas(11, 5.2)
    D.title(ax, "One encoder, three decoders (cnnlib.models.autoencoder)")
    fs, ls = 11, 10.5
    up = models["nearest"].decoder
    tr = models["transpose"].decoder
    un = models["unpool"].decoder
    sh_up = D.trace_shapes(models["nearest"], x, ["decoder.conv1"])
    sh_tr = D.trace_shapes(models["transpose"], x, ["decoder.deconv1"])
    sh_un = D.trace_shapes(models["unpool"], x, ["decoder.conv1"])
    up2 = (sh_up["decoder.conv1"][0],) + tuple(2 * v for v in sh_up["decoder.conv1"][1:])
    un2 = (sh_un["decoder.conv1"][0],) + tuple(2 * v for v in sh_un["decoder.conv1"][1:])
    code2 = (code[0],) + tuple(2 * v for v in code[1:])
    pk = e.pool.kernel_size
    # column j of every row undoes column j of the encoder; rows: (name, texts, kinds, labels
    # between columns j and j+1 (the tensor there))
    enc_row = (["input", f"conv {_k(e.conv1)}, {e.conv1.out_channels}\n+ ReLU",
                f"max pool {pk}x{pk}\n(keeps indices)", f"conv {_k(e.conv2)}, {e.conv2.out_channels}\n+ ReLU",
                f"max pool {pk}x{pk}\n(keeps indices)", "code"],
               ["data", "conv", "pool", "conv", "pool", "data"],
               [S(x.shape[1:]), S(enc["encoder.conv1"]), S(p1), S(enc["encoder.conv2"]), S(code)])
    un_row = (["output", f"conv {_k(un.conv2)}, {un.conv2.out_channels}", "max unpool x2\n(pool 1 indices)",
               f"conv {_k(un.conv1)}, {un.conv1.out_channels}\n+ ReLU", "max unpool x2\n(pool 2 indices)"],
              ["data", "conv", "up", "conv", "up"],
              [S(x.shape[1:]), S(un2), S(sh_un["decoder.conv1"]), S(code2)])
    mode = " or ".join(models[m].decoder.up.mode for m in ("nearest", "bilinear"))
    up_row = (["output", f"conv {_k(up.conv2)}, {up.conv2.out_channels}", f"upsample x2\n{mode}",
               f"conv {_k(up.conv1)}, {up.conv1.out_channels}\n+ ReLU", f"upsample x2\n{mode}"],
              ["data", "conv", "up", "conv", "up"],
              [S(x.shape[1:]), S(up2), S(sh_up["decoder.conv1"]), S(code2)])
    rows = [enc_row, un_row, up_row]
    col_w = [max(D.text_size(ax, r[0][j], fs)[0] for r in rows if j < len(r[0])) + 2 * D.PAD for j in range(6)]
    gap_w = [max(D.text_size(ax, r[2][j], ls)[0] for r in rows if j < len(r[2])) + 0.3 for j in range(5)]
    spare = (10.8 - 0.2 - sum(col_w) - sum(gap_w)) / 5
    xs, xc = [], 0.2
    for j in range(6):
        xs.append(xc + col_w[j] / 2)
        xc += col_w[j] + (gap_w[j] + spare if j < 5 else 0)
    y_enc, ys = 4.15, (3.0, 1.9, 0.8)
    h = 0.62
    top = [D.box(ax, (xs[j], y_enc), t, kind=k, width=col_w[j], height=h, fontsize=fs)
           for j, (t, k) in enumerate(zip(enc_row[0], enc_row[1]))]
    for a, b, lab in zip(top, top[1:], enc_row[2]):
        D.connect(ax, a, b, label=lab, fontsize=ls)
    code_box = top[-1]
    for (texts, kinds, labels), y, name in zip(rows[1:], ys[:2], ["unpool", "upsample"]):
        bs = [D.box(ax, (xs[j], y), t, kind=k, width=col_w[j], height=h, fontsize=fs)
              for j, (t, k) in enumerate(zip(texts, kinds))]
        D.path_arrow(ax, [(code_box.x, code_box.bottom), (code_box.x, y), bs[-1].anchor("right")])
        for a, b, lab in zip(bs, bs[1:], labels):
            D.connect(ax, b, a, label=lab, fontsize=ls)
        if name == "unpool":
            for src, dst in ((top[4], bs[4]), (top[2], bs[2])):
                D.arrow(ax, src.anchor("bottom"), dst.anchor("top"), linestyle="--", color="#2e8a83",
                        label="indices", label_side="right", fontsize=10)
    # transposed: two learned layers, each in place of an upsample + conv pair
    y = ys[2]
    dt = tr.deconv1
    p, op = _first(dt.padding), _first(dt.output_padding)
    p4, op4 = ae_models.doubling_padding(4)
    t_out = D.box(ax, (xs[0], y), "output", kind="data", width=col_w[0], height=h, fontsize=fs)
    l2, r2 = xs[1] - col_w[1] / 2, xs[2] + col_w[2] / 2
    l1, r1 = xs[3] - col_w[3] / 2, xs[4] + col_w[4] / 2
    t2 = D.box(ax, ((l2 + r2) / 2, y), f"transposed conv {_k(tr.deconv2)}, stride {_first(tr.deconv2.stride)}\n"
               f"{tr.deconv2.out_channels} channel", kind="up", width=r2 - l2, height=h, fontsize=fs)
    t1 = D.box(ax, ((l1 + r1) / 2, y), f"transposed conv {_k(dt)}, stride {_first(dt.stride)}\n"
               f"pad {p}, output pad {op}, {dt.out_channels} + ReLU", kind="up", width=r1 - l1, height=h, fontsize=fs)
    D.path_arrow(ax, [(code_box.x, code_box.bottom), (code_box.x, y), t1.anchor("right")])
    D.connect(ax, t1, t2, label=S(sh_tr["decoder.deconv1"]), fontsize=ls)
    D.connect(ax, t2, t_out, label=S(x.shape[1:]), fontsize=ls)
    for y_row, name in zip(ys, ["decoder 1: max unpooling + conv", "decoder 2: upsampling + conv",
                                f"decoder 3: transposed convolution, stride 2 (a 4x4 kernel needs pad {p4}, "
                                f"output pad {op4})"]):
        D.note(ax, (0.2, y_row + 0.5), name, ha="left", weight="bold", fontsize=10.5)
    return fig


BUILDERS: dict[str, Callable[[], "D.Figure"]] = {
    "lenet": lenet,
    "alexnet_two_gpus": alexnet_two_gpus,
    "vgg_block": vgg,
    "receptive_field_3x3": receptive_field_3x3,
    "inception_block": inception,
    "residual_blocks": residual_blocks,
    "dense_block": dense_block,
    "autoencoder_decoders": autoencoder_decoders,
}


def write_all(out: Path = OUT, names: list[str] | None = None, check_layout: bool = True) -> list[Path]:
    """Build the named diagrams (default: all) and write ``out/<name>.svg``. With
    ``check_layout`` a diagram whose text overlaps or leaves its box is an error."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(BUILDERS):
        if name not in BUILDERS:
            raise SystemExit(f"unknown diagram {name!r}; choose from {sorted(BUILDERS)}")
        torch.manual_seed(0)
        fig = BUILDERS[name]()
        problems = D.layout_problems(fig)
        if check_layout and problems:
            raise SystemExit(f"{name}: " + "; ".join(problems))
        written.append(D.save_svg(fig, out / f"{name}.svg"))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default notebooks/figures)")
    ap.add_argument("--no-check", action="store_true", help="write even if the layout check finds problems")
    ap.add_argument("names", nargs="*", help=f"diagrams to write (default all: {', '.join(BUILDERS)})")
    args = ap.parse_args(argv)
    for path in write_all(args.out, args.names or None, check_layout=not args.no_check):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

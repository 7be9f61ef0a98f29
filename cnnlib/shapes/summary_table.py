"""``summary(model, input_size)``: a layer-by-layer table of an ``nn.Module``.

The model is run once on a dummy input with forward hooks on its *leaf* modules (those
without children), so the table lists the layers in the order they are executed, with
their output shape, parameter count, receptive field and multiply-adds.

By default the run happens on PyTorch's ``meta`` device: tensors there have shapes but
no data, so even VGG-16 at 224x224 is summarized instantly and without memory. The
model's own weights are neither moved nor modified (meta stand-ins are swapped in for
the duration of the run with ``torch.func.functional_call``), and its train/eval modes
are restored afterwards.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Optional, Union

from .params import conv2d_macs, count_params
from .receptive import INPUT_RF, RF, is_pointwise, layer_geometry, next_rf


@dataclass(frozen=True)
class LayerRow:
    """One row of a ``Summary``: one call of one leaf module."""

    name: str                           # qualified name, e.g. "features.0" ("" = the model itself)
    type: str                           # class name, e.g. "Conv2d"
    output_shape: Optional[tuple[int, ...]]   # None when the output is not a tensor
    params: int                         # parameters of this module (0 when called again)
    rf: Optional[RF]                    # receptive field of the output, None when untracked
    macs: Optional[int]                 # multiply-adds, None for layers that are not counted


@dataclass(frozen=True)
class Summary:
    """Result of ``summary``: ``rows`` plus totals; ``print()`` it for a text table."""

    rows: list[LayerRow]
    input_shape: tuple[int, ...]
    total_params: int
    trainable_params: int
    total_macs: int

    # ---------------------------------------------------------------- rendering
    _HEADER = ("Layer", "Type", "Output shape", "Params", "RF", "MACs")
    _RIGHT = (False, False, False, True, True, True)

    def _cells(self) -> list[tuple[str, ...]]:
        return [(row.name or "(model)", row.type, _fmt_shape(row.output_shape), f"{row.params:,}",
                 _fmt_rf(row.rf), "-" if row.macs is None else f"{row.macs:,}")
                for row in self.rows]

    def _footer(self) -> list[tuple[str, str]]:
        return [("Input shape", _fmt_shape(self.input_shape)),
                ("Total params", f"{self.total_params:,}"),
                ("Trainable params", f"{self.trainable_params:,}"),
                ("Non-trainable params", f"{self.total_params - self.trainable_params:,}"),
                ("Total MACs", f"{self.total_macs:,} ({_human(self.total_macs)})")]

    def __str__(self) -> str:
        cells = [self._HEADER] + self._cells()
        widths = [max(len(r[c]) for r in cells) for c in range(len(self._HEADER))]

        def line(r: tuple[str, ...]) -> str:
            parts = [v.rjust(w) if right else v.ljust(w) for v, w, right in zip(r, widths, self._RIGHT)]
            return "  ".join(parts).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        lines = [line(self._HEADER), rule] + [line(r) for r in cells[1:]] + [rule]
        label_width = max(len(k) for k, _ in self._footer()) + 1
        lines += [f"{k + ':':<{label_width}} {v}" for k, v in self._footer()]
        if self.untracked_maps():
            lines.append(RF_LEGEND)
        return "\n".join(lines)

    def untracked_maps(self) -> list[str]:
        """Names of the rows that output a feature map ``(N, C, H, W)`` whose receptive field
        the table does not give ("-" in the RF column)."""
        return [row.name for row in self.rows
                if row.rf is None and row.output_shape is not None and len(row.output_shape) == 4]

    __repr__ = __str__

    def to_markdown(self) -> str:
        """The same table as GitHub-flavoured Markdown (for a Markdown cell or a README)."""
        align = ["---:" if right else ":---" for right in self._RIGHT]
        lines = ["| " + " | ".join(self._HEADER) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self._cells()]
        lines.append("")
        lines += [f"- **{k}:** {v}" for k, v in self._footer()]
        if self.untracked_maps():
            lines += ["", RF_LEGEND]
        return "\n".join(lines)


# Printed under a table in which a feature map's RF shows "-" (a flatten or linear layer's "-"
# needs no legend: its output has no spatial extent).
RF_LEGEND = ('RF "-" on a feature map: the table follows a receptive field only along a chain of\n'
             'modules. A tensor made outside a module (x + identity, torch.cat of branches) or a layer it\n'
             'does not track (transposed convolution, unpooling) ends the chain; the field of a sum or a\n'
             "concatenation is the union of its branches' fields, which can differ in size.")


def _fmt_shape(shape: Optional[tuple[int, ...]]) -> str:
    return "-" if shape is None else "[" + ", ".join(str(n) for n in shape) + "]"


def _fmt_rf(rf: Optional[RF]) -> str:
    if rf is None:
        return "-"
    return f"{rf.size[0]}x{rf.size[1]}" if isinstance(rf.size, tuple) else str(rf.size)


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


# --------------------------------------------------------------------- per-layer rules
def _spatial_geometry(module: Any, input_shape: Optional[tuple[int, ...]]) -> Optional[tuple]:
    """Kernel geometry of a layer for receptive-field tracking, or None if it has none.

    Pointwise layers count as 1x1 kernels. An adaptive pooling layer whose input size is
    a multiple of its output size is an ordinary pooling with kernel = stride = the ratio.
    """
    import torch.nn as nn

    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) or is_pointwise(module):
        return layer_geometry(module)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and input_shape and len(input_shape) >= 3:
        out = module.output_size
        out = out if isinstance(out, tuple) else (out, out)
        ratios = []
        for n, o in zip(input_shape[-2:], out):
            o = n if o is None else o
            if n % o:
                return None
            ratios.append(n // o)
        return (tuple(ratios), tuple(ratios), (0, 0), (1, 1))
    return None


def _layer_macs(module: Any, in_shape: Optional[tuple[int, ...]], out_shape: Optional[tuple[int, ...]]) -> Optional[int]:
    """Multiply-adds of conv, transposed conv and linear layers; None for other layers."""
    import torch.nn as nn

    if out_shape is None or in_shape is None:
        return None
    if isinstance(module, nn.Conv2d):
        batch = math.prod(out_shape[:-3])   # 1 for an unbatched (C, H, W) input
        return batch * conv2d_macs(module.in_channels, module.out_channels, module.kernel_size,
                                   tuple(out_shape[-2:]), module.groups)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        # each input value is multiplied by (C_out/groups)*prod(kernel) weights
        return math.prod(in_shape) * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.modules.conv._ConvNd):   # Conv1d, Conv3d
        return math.prod(out_shape) * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return math.prod(out_shape) * module.in_features
    return None


def _first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


# --------------------------------------------------------------------- summary
def summary(
    model: Any,
    input_size: Union[tuple[int, ...], list[int], Any],
    device: Union[str, Any, None] = "meta",
) -> Summary:
    """Layer-by-layer table of ``model`` for one forward pass on an input of ``input_size``.

    ``input_size`` is the full input shape including the batch dimension, e.g.
    ``(1, 3, 224, 224)``, or an example input tensor. ``device="meta"`` (the default)
    computes shapes only, instantly and without memory; ``device=None`` runs on the
    model's own device with its real weights. Example::

        with torch.device("meta"):
            model = torchvision.models.vgg16()
        print(summary(model, (1, 3, 224, 224)))

    Columns, one row per call of a leaf module (in execution order):

    - **Params**: parameters owned by that module (a module called twice shows them on
      its first row only). The totals below the table are ``count_params(model)`` and
      include parameters held outside leaf modules, if any.
    - **RF**: receptive field size of the output (``"5"`` for 5x5, ``"3x5"`` if not
      square); the full ``RF(size, jump, start)`` is in ``rows[i].rf``. It is tracked
      along the actual data flow: a layer's output gets a receptive field when its input
      tensor is the model input or the unchanged output of a layer whose field is known,
      and the layer is a Conv2d, MaxPool2d, AvgPool2d, an adaptive pooling that divides
      its input evenly, or a pointwise layer (activation, eval-mode BatchNorm2d,
      dropout). Everything else shows ``"-"``: flatten, linear layers, and any tensor
      made outside a module (``x + identity`` in ResNet, ``torch.cat`` in Inception,
      ``torch.flatten``, in-place functional ops such as ``F.relu(x, inplace=True)``),
      because the field of a sum or concatenation of branches is no longer one square.
    - **MACs**: multiply-adds of Conv*d, ConvTranspose*d and Linear layers for the whole
      input batch (bias additions, BatchNorm, pooling and activations are not counted).
      This is the convention of torchvision's "GFLOPS" column, which counts multiply-adds.

    The model runs in eval mode under ``torch.no_grad()``; its modes are restored.
    """
    import torch
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    dtype = next((t.dtype for t in tensors.values() if t.is_floating_point()), torch.get_default_dtype())
    if device is None:
        device = next(iter(tensors.values())).device if tensors else torch.device("cpu")
    device = torch.device(device)

    if isinstance(input_size, torch.Tensor):
        x = input_size.to(device)
    elif isinstance(input_size, (tuple, list, torch.Size)) and len(input_size) > 0 and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in input_size):
        x = torch.zeros(tuple(input_size), dtype=dtype, device=device)
    else:
        raise TypeError(
            f"input_size must be a shape tuple of positive ints such as (1, 3, 224, 224) or an "
            f"example tensor, got {input_size!r}")

    rows: list[LayerRow] = []
    seen: set[int] = set()
    known: dict[int, tuple[Any, int, RF]] = {}   # id(tensor) -> (weakref, version, RF)
    pending: list[tuple[Optional[RF], Optional[tuple[int, ...]]]] = []

    def remember(t: Any, rf: Optional[RF]) -> None:
        if isinstance(t, torch.Tensor):
            if rf is None:
                known.pop(id(t), None)
            else:
                known[id(t)] = (weakref.ref(t), t._version, rf)

    def lookup(t: Any) -> Optional[RF]:
        entry = known.get(id(t)) if isinstance(t, torch.Tensor) else None
        if entry is None or entry[0]() is not t or entry[1] != t._version:
            return None   # unknown tensor, or changed in place outside a module since
        return entry[2]

    entered: list[tuple[nn.Module, Optional[tuple[int, ...]]]] = []  # leaf modules started, not yet done

    def pre_hook(module: nn.Module, args: tuple) -> None:
        t = _first_tensor(args)
        pending.append((lookup(t), None if t is None else tuple(t.shape)))
        entered.append((module, pending[-1][1]))

    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        entered.pop()
        in_rf, in_shape = pending.pop()
        out = _first_tensor(output)
        out_shape = None if out is None else tuple(out.shape)
        geometry = _spatial_geometry(module, in_shape)
        rf = None if in_rf is None or geometry is None else next_rf(in_rf, geometry)
        remember(out, rf)
        params = 0
        if id(module) not in seen:
            seen.add(id(module))
            params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerRow(names[id(module)], type(module).__name__, out_shape, params, rf,
                             _layer_macs(module, in_shape, out_shape)))

    names = {}
    handles = []
    modes = {m: m.training for m in model.modules()}
    for name, m in model.named_modules():
        if id(m) not in names and next(m.children(), None) is None:
            names[id(m)] = name
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(hook))
    try:
        model.eval()
        remember(x, INPUT_RF)
        with torch.no_grad():
            try:
                if all(t.device == device for t in tensors.values()):
                    model(x)
                else:   # run on stand-ins on `device`; the model's own tensors stay untouched
                    stand_ins = {k: torch.empty_like(t, device=device) for k, t in tensors.items()}
                    torch.func.functional_call(model, stand_ins, (x,))
            except (RuntimeError, ValueError, TypeError, IndexError) as err:
                where = "the model's forward"
                if entered:
                    module, shape = entered[-1]
                    where = f"layer '{names[id(module)]}' ({module!r}) on an input of shape {shape}"
                raise ValueError(f"input_size {tuple(x.shape)} does not fit the model: {where} "
                                 f"failed with: {err}") from err
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training

    return Summary(rows=rows, input_shape=tuple(x.shape),
                   total_params=count_params(model),
                   trainable_params=count_params(model, trainable_only=True),
                   total_macs=sum(r.macs for r in rows if r.macs is not None))

"""Shape arithmetic for CNNs: output sizes, padding, parameter and multiply-add counts,
receptive fields, and a layer-by-layer ``summary`` table of an ``nn.Module``.

One job per module, everything re-exported here (``from cnnlib.shapes import ...``):

- ``sizes``            ``conv2d_output_size``, ``pool2d_output_size``,
                       ``conv_transpose2d_output_size``, ``same_padding``
- ``params``           ``conv2d_params``, ``linear_params``, ``batchnorm2d_params``,
                       ``conv2d_macs``, ``count_params``
- ``receptive``       ``receptive_field``, ``RF``
- ``summary_table``    ``summary``, ``Summary``, ``LayerRow``

Sizes may be given as an ``int`` (square) or as a pair ``(height, width)``; results
come back as an ``int`` when every size-like argument was an ``int`` and as a
``(height, width)`` tuple otherwise. Bad arguments raise ``TypeError``/``ValueError``
with a message that names the argument.
"""
from .params import batchnorm2d_params, conv2d_macs, conv2d_params, count_params, linear_params
from .receptive import RF, receptive_field
from .sizes import Size, conv2d_output_size, conv_transpose2d_output_size, pool2d_output_size, same_padding
from .summary_table import LayerRow, Summary, summary

__all__ = [
    "Size",
    "conv2d_output_size", "pool2d_output_size", "conv_transpose2d_output_size", "same_padding",
    "conv2d_params", "linear_params", "batchnorm2d_params", "conv2d_macs", "count_params",
    "RF", "receptive_field",
    "summary", "Summary", "LayerRow",
]

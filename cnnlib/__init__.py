"""cnnlib: the helper package of the CNN course.

Modules, one job each:

- ``cnnlib.ops``     NumPy reference implementations of convolution, pooling and
                     transposed convolution, forward and backward (loops and im2col).
- ``cnnlib.shapes``  output sizes, padding, parameter counts, receptive fields, and a
                     layer-by-layer summary table of an ``nn.Module``.
- ``cnnlib.data``    MNIST / Fashion-MNIST as in-memory tensors, batching, a sample photo.
- ``cnnlib.train``   seeding, device choice, one ``fit``/``evaluate`` loop.
- ``cnnlib.ddp``     data-parallel training with torch.distributed (``torchrun -m cnnlib.ddp``).
- ``cnnlib.model_parallel``  AlexNet split over two devices, as in the paper.
- ``cnnlib.viz``     image grids, kernels, feature maps, curves, confusion matrix.
- ``cnnlib.checks``  feedback checks for the graded exercises.
"""

import os as _os

# OpenMP threads that sleep instead of spinning between parallel regions (see the thread
# rule in cnnlib.train). libgomp reads this once, when torch is first imported, so it only
# takes effect when cnnlib is imported before torch (scripts, the bench's workers,
# ``python -m cnnlib.ddp``); a value already set in the environment wins. A notebook kernel
# that imports torch first needs it in its environment (the Makefile's notebook targets).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

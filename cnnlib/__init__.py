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

__version__ = "0.1.0"

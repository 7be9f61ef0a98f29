"""Peers the benchmark measures the course against, re-implemented here from their
published descriptions (no code copied from them). Never imported by ``cnnlib``.

- :mod:`peers.cs231n_conv`: the stride-tricks convolution of CS231n's pure-NumPy "fast
  layers" (assignment 2, ``fast_layers.py``): windows through ``as_strided``, one copy
  into a column matrix, one matrix product; the backward pass in the same spirit.
- :mod:`peers.d2l_train`: the data pipeline and training loop of the d2l book
  (Dive into Deep Learning, ch. 7.6 "LeNet", ``train_ch6``): a torchvision dataset with
  ``ToTensor``, a ``torch.utils.data.DataLoader`` and a plain per-batch loop with an
  accumulator of loss, correct predictions and examples.
"""

"""CS231n's stride-tricks convolution, re-implemented from its description.

What it reproduces: ``conv_forward_strides`` / ``conv_backward_strides`` of the
pure-NumPy "fast layers" of Stanford's CS231n (assignment 2). As described there:

forward
  1. zero-pad ``x (N, C, H, W)`` with ``np.pad``;
  2. view the padded array through ``np.lib.stride_tricks.as_strided`` as
     ``(C, kH, kW, N, H_out, W_out)`` (every kernel offset of every output position, no copy);
  3. copy that view once into a contiguous column matrix ``(C*kH*kW, N*H_out*W_out)``;
  4. ONE matrix product ``w.reshape(F, -1) @ cols`` plus the bias, reshaped to
     ``(F, N, H_out, W_out)`` and transposed to ``(N, F, H_out, W_out)`` (a contiguous copy).

backward (the same spirit: matrix products on the cached columns)
  ``db = dout.sum((0, 2, 3))``; ``dout`` as ``(F, N*H_out*W_out)``; ``dw = dout_mat @ cols.T``;
  ``dcols = w_mat.T @ dout_mat`` viewed as ``(C, kH, kW, N, H_out, W_out)`` and summed back
  onto the padded image. CS231n does that last step (col2im) in Cython; the pure-NumPy
  equivalent used here adds one strided slice per kernel offset (``kH*kW`` adds).

Square stride and padding, no dilation or groups: what the course's layers need. The
arrays keep their dtype (float32 in, float32 out).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def conv_forward_strides(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0):
    """x: (N, C, H, W), w: (F, C, kH, kW), b: (F,) -> out (N, F, H_out, W_out), cache."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    hp, wp = h + 2 * pad, wd + 2 * pad
    h_out, w_out = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    item = xp.itemsize
    shape = (c, kh, kw, n, h_out, w_out)
    strides = (hp * wp, wp, 1, c * hp * wp, stride * wp, stride)
    view = as_strided(xp, shape=shape, strides=tuple(item * s for s in strides))
    cols = np.ascontiguousarray(view).reshape(c * kh * kw, n * h_out * w_out)
    res = w.reshape(f, -1).dot(cols) + b.reshape(-1, 1)
    out = np.ascontiguousarray(res.reshape(f, n, h_out, w_out).transpose(1, 0, 2, 3))
    return out, (x.shape, w, stride, pad, cols)


def conv_backward_strides(dout: np.ndarray, cache):
    """dout: (N, F, H_out, W_out) -> dx (N, C, H, W), dw (F, C, kH, kW), db (F,)."""
    (n, c, h, wd), w, stride, pad, cols = cache
    f, _, kh, kw = w.shape
    h_out, w_out = dout.shape[2:]
    db = dout.sum(axis=(0, 2, 3))
    dout_mat = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = dout_mat.dot(cols.T).reshape(w.shape)
    dcols = w.reshape(f, -1).T.dot(dout_mat).reshape(c, kh, kw, n, h_out, w_out)
    dxp = np.zeros((c, n, h + 2 * pad, wd + 2 * pad), dtype=dcols.dtype)  # col2im, channels first
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u : u + stride * (h_out - 1) + 1 : stride, v : v + stride * (w_out - 1) + 1 : stride] += dcols[:, u, v]
    dx = np.ascontiguousarray(dxp[:, :, pad : pad + h, pad : pad + wd].transpose(1, 0, 2, 3))
    return dx, dw, db

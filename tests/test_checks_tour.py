"""cnnlib.checks.tour: right answers pass, stubs fail with the not-implemented message, typical
wrong answers fail with a hint that names the mistake, and no failure reveals the right value."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnlib.checks import CheckFailed
from cnnlib.checks.tour import check_batch_shape, check_flatten_batch, check_warmup_shapes

BATCH = (16, 3, 120, 160)
CONV = (16, 8, 116, 156)


def test_warmup_constants_match_pytorch():
    x = torch.zeros(BATCH)
    assert tuple(F.conv2d(x, torch.zeros(8, 3, 5, 5)).shape) == CONV


def test_warmup_right_answers_pass(capsys):
    check_warmup_shapes(BATCH, CONV)
    check_warmup_shapes(torch.Size(BATCH), list(CONV))
    out = capsys.readouterr().out
    assert out.count("all checks passed") == 2 and "why" in out


@pytest.mark.parametrize("batch, conv, hint", [
    (..., CONV, "not implemented yet"),
    (BATCH, ..., "conv_shape is not implemented yet"),
    ("16x3", CONV, "tuple of sizes"),
    ((16, 3, 160, 120), CONV, "width x height"),
    ((16, 120, 160, 3), CONV, "channels-last"),
    ((16, 1, 120, 160), CONV, "three channels"),
    ((32, 3, 120, 160), CONV, "number of photos"),
    ((3, 120, 160), CONV, "four axes"),
    (BATCH, (16, 8, 120, 160), "shrinks"),
    (BATCH, (16, 8, 115, 155), "off by one"),
    (BATCH, (16, 8, 117, 157), "two pixels on each side"),
    (BATCH, (16, 3, 116, 156), "one channel per kernel"),
    (BATCH, (16, 5, 116, 156), "first axis of the kernel"),
    (BATCH, (16, 8, 156, 116), "height first"),
    (BATCH, (1, 8, 116, 156), "keeps the batch axis"),
    (BATCH, (16, 8, 100, 100), "how many positions"),
])
def test_warmup_wrong_answers(batch, conv, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_warmup_shapes(batch, conv)


def test_batch_shape():
    check_batch_shape((32, 1, 28, 28))
    for wrong, hint in [((32, 28, 28), "channel axis"), ((32, 28, 28, 1), r"\(N, C, H, W\)"),
                        ((64, 1, 28, 28), "number of images"), ((32, 3, 28, 28), "grayscale"),
                        ((32, 1, 32, 32), "size of one MNIST image"), (..., "not set")]:
        with pytest.raises(CheckFailed, match=hint):
            check_batch_shape(wrong)


def test_flatten_batch():
    check_flatten_batch(lambda x: x.reshape(len(x), -1), hidden=True)
    for wrong, hint in [(lambda x: (_ for _ in ()).throw(NotImplementedError()), "not implemented"),
                        (lambda x: x.reshape(-1), "keep the batch axis"),
                        (lambda x: x.permute(0, 3, 2, 1).reshape(len(x), -1), "row-major"),
                        (lambda x: x.reshape(len(x), x.shape[1], -1), "two axes"),
                        (lambda x: x.reshape(-1, x.shape[-1]), "first axis must stay"),
                        (lambda x: None, "forget `return`")]:
        with pytest.raises(CheckFailed, match=hint):
            check_flatten_batch(wrong)


def _flat_transposed(x):
    return x.permute(0, 3, 2, 1).reshape(len(x), -1)


# (check, args, kwargs, strings of the right value that must not appear in the feedback)
LEAK_CASES = [
    (check_warmup_shapes, ((16, 3, 160, 120), CONV), {}, ["(16, 3, 120, 160)", "116", "156"]),
    (check_warmup_shapes, ((16, 1, 120, 160), CONV), {}, ["(16, 3, 120, 160)", "116", "156"]),
    (check_warmup_shapes, (BATCH, (16, 8, 120, 160)), {}, ["116", "156"]),
    (check_warmup_shapes, (BATCH, (16, 8, 115, 155)), {}, ["116", "156"]),
    (check_warmup_shapes, (BATCH, (16, 3, 116, 156)), {}, ["(16, 8, 116, 156)", ", 8,"]),
    (check_batch_shape, ((32, 28, 28),), {}, ["(32, 1, 28, 28)"]),
    (check_batch_shape, ((32, 28, 28, 1),), {}, ["(32, 1, 28, 28)"]),
    (check_batch_shape, ((32, 3, 28, 28),), {}, ["(32, 1, 28, 28)"]),
    (check_flatten_batch, (lambda x: x.reshape(-1),), {}, ["(2, 16)", "(3, 105)"]),
    (check_flatten_batch, (lambda x: x.reshape(len(x), x.shape[1], -1),), {}, ["(2, 16)", "(3, 105)"]),
    (check_flatten_batch, (_flat_transposed,), {}, ["(2, 16)", "(3, 105)", "expected"]),
]

# the values of notebook 00's compute exercise (its solution cell's grade_id)
EXERCISE_ANSWERS = {"00_setup_and_tour.ipynb": {"ex1-answer": ["116", "156"]}}

# LEAK_CASES are run by tests/test_checks_no_leak.py (whole numbers matched as numbers).

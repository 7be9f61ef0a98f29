"""cnnlib.checks.distributed (notebook 14): right answers pass, stubs fail with the
not-implemented message, typical wrong answers fail with their hint, and no message
gives the expected value away."""
from __future__ import annotations

import math
import re

import pytest
import torch
from torch.utils.data import DistributedSampler

from cnnlib.checks import CheckFailed
from cnnlib.checks.distributed import check_ring_bytes, check_shard_indices, ring_allreduce_bytes

NOT_DONE = "not implemented yet"


def _right(n, rank, world_size):
    return list(DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False))


def test_shard_indices_right_answers_pass(capsys):
    check_shard_indices(_right, hidden=True)
    check_shard_indices(lambda n, r, w: torch.tensor(_right(n, r, w)))
    assert "shard_indices: all checks passed" in capsys.readouterr().out


def _stub(n, rank, world_size):
    raise NotImplementedError()


@pytest.mark.parametrize("fn, hint", [
    (_stub, NOT_DONE),
    (lambda n, r, w: list(range(n))[r::w], "pad the index list"),
    (lambda n, r, w: list(range(r * math.ceil(n / w), min(n, (r + 1) * math.ceil(n / w)))), "contiguous block"),
    (lambda n, r, w: list(range(n))[:(n // w) * w][r::w], "last indices dropped"),
    (lambda n, r, w: (list(range(n)) + [n - 1] * (math.ceil(n / w) * w - n))[r::w], "not the last one"),
    (lambda n, r, w: "0, 2", "list of ints"),
    (lambda n, r, w: [0.0, 2.0], "list of ints"),
    (lambda n, r, w: [r] * math.ceil(n / w), re.escape("positions r, r + world_size")),
])
def test_shard_indices_wrong_answers_get_their_hint(fn, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_shard_indices(fn, hidden=True)


def test_hidden_cases_catch_a_solution_fitted_to_the_visible_ones():
    visible = {(8, 0, 2), (8, 1, 2), (10, 2, 4), (10, 3, 4), (7, 1, 3)}

    def fitted(n, r, w):   # right on the visible cases, wrong when n < world_size (padding wraps round)
        return _right(n, r, w) if (n, r, w) in visible or n >= w else list(range(n))[r::w]

    check_shard_indices(fitted)
    with pytest.raises(CheckFailed):
        check_shard_indices(fitted, hidden=True)


def test_ring_bytes(capsys):
    expected = ring_allreduce_bytes(25_557_032, 8)
    assert expected == 2 * 7 * 25_557_032 * 4 // 8
    check_ring_bytes(expected)
    check_ring_bytes(float(expected))
    check_ring_bytes(torch.tensor(expected))
    assert "bytes_per_gpu: all checks passed" in capsys.readouterr().out


S = 25_557_032 * 4


@pytest.mark.parametrize("answer, hint", [
    (..., NOT_DONE), (None, NOT_DONE),
    ("lots", "number of bytes"), (True, "number of bytes"),
    (S * 7 / 8, "reduce-scatter THEN an all-gather"),
    (2 * 25_557_032 * 7 / 8, "4 bytes"),
    (2 * S, "not the whole tensor twice"),
    (S * 7, "every other GPU"),
    (S, "size of the gradient itself"),
    (2 * S * 7 / 8 / 2 ** 20, "mebibytes"),
    (12345, "2 \\(W - 1\\) chunks"),
])
def test_ring_bytes_wrong_answers_get_their_hint(answer, hint):
    with pytest.raises(CheckFailed, match=hint) as err:
        check_ring_bytes(answer)
    assert f"{ring_allreduce_bytes(25_557_032, 8):,}" not in str(err.value)   # the answer is not given away
    assert str(ring_allreduce_bytes(25_557_032, 8)) not in str(err.value)


def _blocks(n, rank, world_size):
    per = math.ceil(n / world_size)
    return list(range(rank * per, min(n, (rank + 1) * per)))


# wrong answers and the right values that their feedback must not show (tests/test_checks_no_leak.py)
LEAK_CASES = [
    (check_shard_indices, (_blocks,), {}, []),
    (check_shard_indices, (lambda n, r, w: list(range(n))[r::w],), {}, []),
    (check_ring_bytes, (ring_allreduce_bytes(25_557_032, 8) // 2,), {}, [str(ring_allreduce_bytes(25_557_032, 8))]),
    (check_ring_bytes, (2 * 7 * 25_557_032 // 8,), {}, [str(ring_allreduce_bytes(25_557_032, 8))]),
    (check_ring_bytes, (12345,), {}, [str(ring_allreduce_bytes(25_557_032, 8))]),
]
EXERCISE_ANSWERS = {"14_distributed_training.ipynb": {"ex2-answer": [str(ring_allreduce_bytes(25_557_032, 8))]}}

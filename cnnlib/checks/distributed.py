"""Checks for the exercises of notebook 14 (distributed training).

Each check passes quietly (printing one line) or raises :class:`CheckFailed` with a hint
that names the likely mistake, without giving the expected value away.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .core import NOT_IMPLEMENTED, CheckFailed, passed, protect


def _reference_shard(n: int, rank: int, world_size: int) -> list[int]:
    """DistributedSampler(shuffle=False, drop_last=False): pad by repeating, then interleave."""
    total = math.ceil(n / world_size) * world_size
    padded = (list(range(n)) * math.ceil(total / n))[:total]
    return padded[rank:total:world_size]


def _as_int_list(got: Any) -> list[int] | None:
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    try:
        values = list(got)
    except TypeError:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return values


def _shard_hint(n: int, rank: int, world_size: int, got: list[int]) -> str:
    per = math.ceil(n / world_size)
    if got == list(range(rank * per, min(n, (rank + 1) * per))) or got == list(range(rank * per, (rank + 1) * per)):
        return ("that is a contiguous block; DistributedSampler interleaves: rank r takes positions "
                "r, r + world_size, r + 2 * world_size, ...")
    if got in (list(range(n))[rank::world_size], list(range(n))[:(n // world_size) * world_size][rank::world_size]):
        return ("without padding (or with the last indices dropped) the ranks get shards of different lengths "
                "or lose samples; unequal shards mean different numbers of steps, and one rank waits for ever "
                "at an all-reduce: pad the index list to a multiple of world_size by repeating its FIRST indices")
    padded_last = (list(range(n)) + [n - 1] * (per * world_size - n))[rank::world_size]
    if got == padded_last:
        return "pad by repeating the first indices (0, 1, ...), not the last one"
    if len(got) != per:
        return f"every rank gets ceil(n / world_size) indices, here {per}; yours has {len(got)}"
    return "rank r takes the positions r, r + world_size, ... of the list 0 .. n-1 padded to a multiple of world_size"


def check_shard_indices(fn: Callable[[int, int, int], Any], hidden: bool = False) -> None:
    """``fn(n, rank, world_size)``: the indices ``DistributedSampler(range(n), world_size, rank,
    shuffle=False)`` gives ``rank``, as a list (or 1-D tensor) of ints."""
    cases = [(8, 0, 2), (8, 1, 2), (10, 2, 4), (10, 3, 4), (7, 1, 3)]
    if hidden:
        cases += [(5, 6, 8), (1, 0, 3), (100, 6, 7), (12, 5, 6)]
    for n, rank, world in cases:
        call = f"shard_indices(n={n}, rank={rank}, world_size={world})"
        try:
            raw = fn(n, rank, world)
        except NotImplementedError:
            raise CheckFailed(NOT_IMPLEMENTED.format(what="shard_indices")) from None
        got = _as_int_list(raw)
        if got is None:
            raise CheckFailed(f"{call} returned {type(raw).__name__} {raw!r}; return a list of ints")
        if got != _reference_shard(n, rank, world):
            raise CheckFailed(f"{call} returned {got}: {_shard_hint(n, rank, world, got)}")
    passed("shard_indices")


def ring_allreduce_bytes(params: int, world_size: int, bytes_per_value: int = 4) -> int:
    """Bytes each worker sends in one ring all-reduce of ``params`` values: 2 (W - 1) / W of the tensor."""
    return 2 * (world_size - 1) * params * bytes_per_value // world_size


def check_ring_bytes(answer: Any, params: int = 25_557_032, world_size: int = 8) -> None:
    """The bytes each of ``world_size`` GPUs sends per step to all-reduce ResNet-50's float32 gradients."""
    if answer is None or answer is ...:
        raise CheckFailed(NOT_IMPLEMENTED.format(what="bytes_per_gpu").replace("the `raise NotImplementedError()` line", "`...`"))
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise CheckFailed(f"bytes_per_gpu should be a number of bytes, got {answer!r}")
    expected = ring_allreduce_bytes(params, world_size)
    if abs(answer - expected) <= 1:
        passed("bytes_per_gpu")
        return
    size = params * 4
    w = world_size
    hints = [
        (size * (w - 1) / w, "that is one of the two phases only: a ring all-reduce is a reduce-scatter THEN an all-gather"),
        (2 * params * (w - 1) / w, "that counts values, not bytes: a float32 gradient takes 4 bytes"),
        (params * (w - 1) / w, "count bytes (4 per float32) and both phases (reduce-scatter and all-gather)"),
        (2 * size, "in a ring each GPU sends 2 (W - 1) chunks of size S / W, not the whole tensor twice"),
        (2 * size * (w - 1), "each of the 2 (W - 1) ring steps sends one chunk of S / W bytes, not the whole tensor"),
        (size * (w - 1), "that is sending the whole gradient to every other GPU; the ring sends chunks of S / W"),
        (size, "that is the size of the gradient itself; how much of it does each GPU send in the ring?"),
        (2 * size * (w - 1) / w / 2 ** 20, "give bytes, not mebibytes"),
        (2 * size * (w - 1) / w / 1e6, "give bytes, not megabytes"),
    ]
    for value, hint in hints:
        if math.isclose(answer, value, rel_tol=1e-6, abs_tol=1):
            raise CheckFailed(f"bytes_per_gpu = {answer:,}: {hint}")
    raise CheckFailed(f"bytes_per_gpu = {answer:,} is not what a ring all-reduce sends: with S bytes of gradient "
                      f"on W GPUs each GPU sends 2 (W - 1) chunks of S / W bytes")


protect(globals())

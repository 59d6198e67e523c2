"""Sharding an epoch: which batches one DDP rank and one DataLoader worker read.

This module imports nothing but the fastwig errors.
"""

from __future__ import annotations

from ..errors import RangeError

__all__ = ["shard_batches"]


def shard_batches(n: int, batch_size: int, *, rank: int = 0, world_size: int = 1, worker: int = 0,
                  num_workers: int = 1, drop_last: bool = False) -> list[tuple[int, int]]:
    """The batches of an epoch that one (rank, worker) reads.

    The epoch's indices ``0 .. n-1`` are cut into batches of ``batch_size`` consecutive indices;
    batch ``k`` goes to rank ``k % world_size``; a rank's ``j``-th batch goes to DataLoader worker
    ``j % num_workers`` (the order in which a DataLoader takes batches from its workers, so the
    loader yields a rank's batches in order).  Shards are disjoint and together make the epoch.

    Parameters
    ----------
    n : int
        Epoch length.
    batch_size : int
    rank, world_size : int
        DDP rank and number of ranks.
    worker, num_workers : int
        DataLoader worker id and number of workers (1 outside a DataLoader).
    drop_last : bool
        Keep only whole batches, and only as many as every rank gets the same number (what DDP needs
        to stay in step); the rest of the epoch is left out.  Otherwise the last batch may be short and
        ranks may differ by one batch.

    Returns
    -------
    list of (int, int)
        Half-open index ranges ``[lo, hi)``, in order.
    """
    n, batch_size = int(n), int(batch_size)
    if batch_size <= 0:
        raise RangeError(f"batch_size must be > 0, got {batch_size}")
    if world_size <= 0 or not 0 <= rank < world_size:
        raise RangeError(f"rank must lie in [0, world_size), got rank {rank}, world_size {world_size}")
    if num_workers <= 0 or not 0 <= worker < num_workers:
        raise RangeError(f"worker must lie in [0, num_workers), got {worker}, {num_workers}")
    if drop_last:
        n_batches = (n // batch_size) // world_size * world_size
    else:
        n_batches = -(-n // batch_size)
    mine = range(rank, n_batches, world_size)
    mine = [k for j, k in enumerate(mine) if j % num_workers == worker]
    return [(k * batch_size, min((k + 1) * batch_size, n)) for k in mine]

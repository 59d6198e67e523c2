"""The plan of a batch: which data blocks each (window, track) item needs, and which the cache holds.

:func:`plan_rows` finds, for each (window, track) row, the blocks that overlap the window, in file
order (CSR arrays), and the unique blocks of the batch with the furthest coordinate any window needs
from each (for early exit).  Every executor starts from it (:mod:`fastwig.backend`); the stored bytes
are read by :mod:`fastwig.load`.  Flat numpy arrays throughout: no Python object per block or window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels import plan
from .cache import cache
from .config import settings
from .load import exclusive_cumsum
from .pool import run_items


@dataclass
class RowPlan:
    """Blocks of a batch of (window, track) items.

    Items are numbered track-major, ``item = track * n + window``; item i fills output row
    ``window * n_tracks + track`` of the (n, n_tracks, width) result.

    Attributes
    ----------
    bptr, blist : int64 CSR over items: item i reads needed blocks ``blist[bptr[i]:bptr[i+1]]``
        (positions in the arrays below), in file order
    track, leaf, stop : int64 (m,), the batch's unique needed blocks: track number, leaf in that
        track's block index, and the coordinate before which the items need its records (-1: all)
    lo, length, flags : int64 (m,), cache position of each block (-1: not cached), length, flags
    """

    bptr: np.ndarray
    blist: np.ndarray
    track: np.ndarray
    leaf: np.ndarray
    stop: np.ndarray
    lo: np.ndarray
    length: np.ndarray
    flags: np.ndarray


# fewest tracks worth a chunk of parallel planning (measured: 8 tracks plan in 115 us on one thread,
# 140 us on two)
PLAN_MIN_TRACKS = 16


def plan_rows(bws, chrom_ids: np.ndarray, starts: np.ndarray, width: int, use_cache: bool = True,
              threads: int = 1) -> RowPlan:
    """Find the blocks of every (window, track) item, and which of them the cache holds.

    Parameters
    ----------
    bws : sequence of BigWig
    chrom_ids : int64 (n, n_tracks), each track's chromId of each window (-1: not in that file)
    starts : int64 (n,), window starts
    width : int
    use_cache : bool
        Look blocks up in the cache (the caller holds ``cache.lock``); False reports every block
        as a miss.
    threads : int
        Tracks are planned in parallel when > 1 (the planner writes nothing shared: its scratch is
        per call; the indexes and the cache's table are only read).
    """
    n, n_tracks = chrom_ids.shape
    early = bool(settings.early_exit)
    cids_by_track = np.ascontiguousarray(chrom_ids.T)
    results: list = [None] * n_tracks
    keys, vals = cache.table

    def plan_tracks(t0: int, t1: int) -> None:
        for t in range(t0, t1):
            ix = bws[t]._index
            results[t] = plan.plan_track(ix.arrays, ix.file_order, cids_by_track[t], starts, width, early,
                                         keys, vals, bws[t]._cache_state.uid)

    # a track plans in about 15 us (256 windows): waking the pool costs more than a few tracks take
    run_items(plan_tracks, n_tracks, threads, min_chunk=PLAN_MIN_TRACKS)
    if n_tracks == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RowPlan(np.zeros(1, dtype=np.int64), *([empty] * 7))
    # one concatenation per field, then each track's positions shifted past the tracks before it
    fields = list(zip(*results))            # ptr, blist, uniq, stop, lo, length, flags: a tuple of n_tracks each
    n_blocks = np.array([u.size for u in fields[2]], dtype=np.int64)
    n_refs = np.array([p[-1] for p in fields[0]], dtype=np.int64)
    bptr = np.zeros(n_tracks * n + 1, dtype=np.int64)
    bptr[1:] = np.concatenate([p[1:] for p in fields[0]])
    bptr[1:] += np.repeat(exclusive_cumsum(n_refs), n)
    blist = np.concatenate(fields[1]) + np.repeat(exclusive_cumsum(n_blocks), n_refs)
    track = np.repeat(np.arange(n_tracks, dtype=np.int64), n_blocks)
    lo = np.concatenate(fields[4])
    if not use_cache:
        lo[:] = -1
    return RowPlan(bptr, blist, track, np.concatenate(fields[2]), np.concatenate(fields[3]), lo,
                   np.concatenate(fields[5]), np.concatenate(fields[6]))

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
    parts = []
    base_items = 0
    base_uniq = 0
    for t, (ptr, blist, uniq, stop, lo, length, flags) in enumerate(results):
        if not use_cache:
            lo[:] = -1
        parts.append((ptr[1:] + base_items, blist + base_uniq, np.full(uniq.size, t, np.int64), uniq, stop,
                      lo, length, flags))
        base_items += int(ptr[-1])
        base_uniq += uniq.size

    def cat(k: int) -> np.ndarray:
        return np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64)

    bptr = np.concatenate(([0], cat(0))).astype(np.int64)
    return RowPlan(bptr, cat(1), cat(2), cat(3), cat(4), cat(5), cat(6), cat(7))

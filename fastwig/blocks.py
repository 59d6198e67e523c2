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


# fewest tracks worth a chunk of parallel planning (measured on the warm sparse batch, 8 tracks of 256
# windows at 2 threads: 76 us in one chunk, 128 us in two chunks of 4)
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
    n_tracks = chrom_ids.shape[1]
    if n_tracks == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RowPlan(np.zeros(1, dtype=np.int64), *([empty] * 7))
    early = bool(settings.early_exit)
    cids_by_track = np.ascontiguousarray(chrom_ids.T)
    keys, vals = cache.table
    indexes = _index_list(bws)
    if indexes is not None:
        file_orders = np.array([bw._index.file_order for bw in bws], dtype=np.bool_)
        uids = np.array([bw._cache_state.uid for bw in bws], dtype=np.int64)
    parts: dict[int, tuple] = {}

    def plan_chunk(t0: int, t1: int) -> None:
        if indexes is not None:
            parts[t0] = plan.plan_tracks(indexes, file_orders, uids, cids_by_track, starts, width, early, keys,
                                         vals, t0, t1)
            return
        for t in range(t0, t1):     # one call per track: these indexes do not fit one typed list
            ix = bws[t]._index
            ptr, blist, uniq, stop, lo, length, flags = plan.plan_track(
                ix.arrays, ix.file_order, cids_by_track[t], starts, width, early, keys, vals,
                bws[t]._cache_state.uid)
            parts[t] = (ptr, blist, np.full(uniq.size, t, dtype=np.int64), uniq, stop, lo, length, flags)

    # a track plans in about 6 us (256 windows): waking the pool costs more than a few tracks take
    run_items(plan_chunk, n_tracks, threads, min_chunk=PLAN_MIN_TRACKS)
    plan_ = _join([parts[t] for t in sorted(parts)])
    if not use_cache:
        plan_.lo[:] = -1
    return plan_


def _join(parts: list[tuple]) -> RowPlan:
    """One :class:`RowPlan` from the plans of consecutive runs of tracks (each ``plan.plan_tracks``' tuple)."""
    if len(parts) == 1:
        return RowPlan(*parts[0])
    fields = list(zip(*parts))          # bptr, blist, track, leaf, stop, lo, length, flags: one per part
    n_blocks = np.array([t.size for t in fields[2]], dtype=np.int64)
    n_refs = np.array([b.size for b in fields[1]], dtype=np.int64)
    n_items = np.array([p.size - 1 for p in fields[0]], dtype=np.int64)
    bptr = np.zeros(int(n_items.sum()) + 1, dtype=np.int64)
    bptr[1:] = np.concatenate([p[1:] for p in fields[0]]) + np.repeat(exclusive_cumsum(n_refs), n_items)
    blist = np.concatenate(fields[1]) + np.repeat(exclusive_cumsum(n_blocks), n_refs)
    return RowPlan(bptr, blist, *(np.concatenate(f) for f in fields[2:]))


# The typed list of the last set of tracks planned, kept while the same files are read again (a training
# loop reads one set over and over): building it costs about 2 us a track, a third of planning it.  One
# tuple (arrays, list), replaced whole, so that a thread never pairs one set's arrays with another's list.
_last_indexes: tuple = ((), None)


def _index_list(bws):
    """A numba typed List of the tracks' index arrays (``BlockIndex.arrays``), or None when they are not
    all of one numba type (the caller then plans track by track).

    The types are compared here because numba's typed list does not refuse an item of another layout:
    it casts a strided array to the list's contiguous type and then reads it as contiguous.
    """
    global _last_indexes
    arrays = tuple(bw._index.arrays for bw in bws)
    last_arrays, last_list = _last_indexes
    if len(last_arrays) == len(arrays) and all(a is b for a, b in zip(arrays, last_arrays)):
        return last_list
    indexes = None
    if len({_numba_type(a) for a in arrays}) == 1:
        indexes = plan.index_list(arrays[0])
        for a in arrays[1:]:
            plan.index_list_append(indexes, a)
    _last_indexes = (arrays, indexes)
    return indexes


def _numba_type(arrays: tuple) -> tuple:
    """What numba's type of an index tuple depends on (``numba.typeof`` itself takes 50 us a tuple)."""
    return tuple((type(a), a.dtype, a.ndim, a.flags.c_contiguous, a.flags.writeable, a.flags.aligned) for a in arrays)

"""The decoded-block cache: canonical inflated blocks of every open file, in one ring of bytes.

Blocks are appended at the ring's head; when the head wraps, the blocks it overwrites are forgotten
(first in, first out).  Lookups are vectorised: each file keeps, per R-tree leaf, the block's position
in the ring (or -1), so finding a batch's cached blocks is a fancy index, not a Python loop.  The
ring's size is ``fastwig.config.settings.cache_bytes``; its pages are touched only as it fills.
"""

from __future__ import annotations

import itertools
import threading
import weakref

import numpy as np

from .config import settings

UNTIL_COMPLETE = np.iinfo(np.int64).max
_uids = itertools.count(1)


class FileCacheState:
    """Per-file view of the cache: for each leaf of the file's block index, where its block lies.

    Attributes
    ----------
    pos : int64 (n_leaves,), byte offset in the ring, -1 when not cached
    length : int64 (n_leaves,), canonical block length in bytes
    flags : int64 (n_leaves,), ``kernels.decode`` scan flags
    until : int64 (n_leaves,), records starting before this coordinate are present
        (``UNTIL_COMPLETE`` when the whole block is)
    table : int64 (5, n_leaves), the rows pos, length, flags, until and the planner's scratch
    """

    def __init__(self, n_leaves: int):
        self.uid = next(_uids)
        # one table, so that the planner takes one array; the attributes are views of its rows
        self.table = np.zeros((5, n_leaves), dtype=np.int64)
        self.pos, self.length, self.flags, self.until, self.mark = self.table
        self.pos[:] = -1
        self.mark[:] = -1   # scratch of kernels.plan.plan_track


class BlockCache:
    """A byte ring shared by all files, with a lock that the batch pipeline holds while it uses it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.capacity = 0
        self.buf = np.zeros(0, dtype=np.uint8)
        self.head = 0
        self._owners: dict[int, weakref.ReferenceType] = {}
        self._e_uid = np.zeros(0, np.int64)
        self._e_leaf = np.zeros(0, np.int64)
        self._e_lo = np.zeros(0, np.int64)
        self._e_hi = np.zeros(0, np.int64)

    def _ensure(self) -> None:
        want = max(0, int(settings.cache_bytes)) & ~3
        if want != self.capacity:
            self.clear()
            self.capacity = want
            self.buf = np.empty(want, dtype=np.uint8)
            # Touch every page now: a first write to fresh memory costs about 2.5 ms per MiB on the
            # benchmark machine (page faults), which would otherwise land on the first batches that
            # fill the ring.  The ring is resident from here on: the budget is its size.
            self.buf[::4096] = 0

    def clear(self) -> None:
        """Forget every cached block."""
        with self.lock:
            self._evict(np.ones(self._e_uid.size, dtype=bool))
            self.head = 0

    @property
    def used_bytes(self) -> int:
        return int((self._e_hi - self._e_lo).sum())

    def reserve(self, nbytes: int, keep_lo: np.ndarray, keep_hi: np.ndarray) -> int:
        """Make room for ``nbytes`` at the head and return its offset, or -1 when it cannot fit.

        ``keep_lo``/``keep_hi`` are ring ranges the current batch still reads: a reservation that
        would overwrite one of them fails instead (the caller then works outside the ring).
        """
        self._ensure()
        if nbytes > self.capacity:
            return -1
        at = self.head if self.head + nbytes <= self.capacity else 0
        if keep_lo.size and np.any((keep_lo < at + nbytes) & (keep_hi > at)):
            return -1
        self._evict((self._e_lo < at + nbytes) & (self._e_hi > at))
        self.head = at + nbytes
        return at

    def register(self, state: FileCacheState, leaves: np.ndarray, pos: np.ndarray, length: np.ndarray,
                 flags: np.ndarray, until: np.ndarray) -> None:
        """Record that blocks of ``state``'s file now lie in the ring."""
        # a leaf cached before (a shorter, early-exit prefix) is replaced
        old = state.pos[leaves] >= 0
        if old.any():
            self._forget(state.uid, leaves[old])
        self._owners[state.uid] = weakref.ref(state)
        state.pos[leaves] = pos
        state.length[leaves] = length
        state.flags[leaves] = flags
        state.until[leaves] = until
        self._e_uid = np.concatenate([self._e_uid, np.full(leaves.size, state.uid, np.int64)])
        self._e_leaf = np.concatenate([self._e_leaf, leaves])
        self._e_lo = np.concatenate([self._e_lo, pos])
        self._e_hi = np.concatenate([self._e_hi, pos + length])

    def _forget(self, uid: int, leaves: np.ndarray) -> None:
        self._drop((self._e_uid == uid) & np.isin(self._e_leaf, leaves))

    def _evict(self, mask: np.ndarray) -> None:
        if not mask.any():
            return
        for uid in np.unique(self._e_uid[mask]):
            ref = self._owners.get(int(uid))
            state = ref() if ref is not None else None
            if state is not None:
                state.pos[self._e_leaf[mask & (self._e_uid == uid)]] = -1
        self._drop(mask)

    def _drop(self, mask: np.ndarray) -> None:
        keep = ~mask
        self._e_uid, self._e_leaf = self._e_uid[keep], self._e_leaf[keep]
        self._e_lo, self._e_hi = self._e_lo[keep], self._e_hi[keep]
        live = set(np.unique(self._e_uid).tolist())
        for uid in [u for u, ref in self._owners.items() if u not in live or ref() is None]:
            del self._owners[uid]


cache = BlockCache()

"""The decoded-block cache: canonical inflated blocks of every open file, in one ring of bytes.

Blocks are appended at the ring's head; when the head wraps, the blocks it overwrites are forgotten
(first in, first out): a log of the registrations, in ring order, names the blocks a reservation
overwrites, so that making room costs the blocks it forgets, not a pass over the whole table.

Where each cached block lies is kept by the cache itself, in a hash table of flat arrays keyed by
(file, block) and sized by the blocks it holds (``kernels/cachemap.py``): an open file costs the
cache nothing per block of its index, and the planner probes the table inside its compiled loop.
The ring's size is ``fastwig.config.settings.cache_bytes``; the table is held to a quarter of that
(:data:`TABLE_SHARE`): files of tiny blocks would otherwise fill the ring with entries that cost more
than their bytes (36-byte blocks: 210 bytes of table each), so past that many entries the oldest
blocks are forgotten first.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np

from ._kernels import cachemap
from .config import settings

UNTIL_COMPLETE = np.iinfo(np.int64).max
_uids = itertools.count(1)
MIN_SLOTS = 1024
TABLE_SHARE = 4                       # the table takes at most cache_bytes / TABLE_SHARE
SLOT_BYTES = 8 * (1 + cachemap.N_VALUES)


class FileCacheState:
    """A file's key in the block cache: its blocks are cached as ``(uid, leaf)``.

    Attributes
    ----------
    uid : int, unique in this process (a file opened again gets a new one, so a replaced file's
        blocks are never served for the new one)
    n_leaves : int, blocks in the file's index
    """

    def __init__(self, n_leaves: int):
        self.uid = next(_uids)
        if self.uid >= 1 << 31:
            raise OverflowError("more than 2**31 files opened in one process")
        self.n_leaves = int(n_leaves)


class BlockCache:
    """A byte ring shared by all files, with a lock that the batch pipeline holds while it uses it.

    Attributes
    ----------
    table : tuple (keys int64 (S,), vals int64 (S, 4)), where each cached block lies
        (``kernels/cachemap.py``; read by the planner under ``lock``)
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.capacity = 0
        self.buf = np.zeros(0, dtype=np.uint8)
        self.head = 0
        self._reset_table(MIN_SLOTS)
        self._reset_log()

    def _reset_log(self) -> None:
        # the registrations of blocks since the last clear, oldest first: a circular queue of (key,
        # ring position); trusted only while every registration fell, in order, inside the latest
        # reservation (``_ordered``), else reservations fall back to a pass over the table
        self._log_key = np.empty(1024, np.int64)
        self._log_pos = np.empty(1024, np.int64)
        self._log_first = 0
        self._log_count = 0
        self._ordered = True
        self._res_next = 0        # registrations of the latest reservation must start here or later...
        self._res_hi = 0          # ...and before here

    def _log_append(self, keys: np.ndarray, pos: np.ndarray) -> None:
        cap = self._log_key.size
        if self._log_count + keys.size > cap:
            # full: first drop the records of blocks forgotten since (the table's cap forgets blocks the
            # ring still holds), so that the log is sized by the live blocks, then grow if still half full
            kept_key, kept_pos = np.empty(self._log_count, np.int64), np.empty(self._log_count, np.int64)
            n = int(cachemap.compact_log(*self.table, self._log_key, self._log_pos, self._log_first,
                                         self._log_count, kept_key, kept_pos))
            cap = max(cap, 2 * (n + keys.size))
            self._log_key, self._log_pos = np.empty(cap, np.int64), np.empty(cap, np.int64)
            self._log_key[:n], self._log_pos[:n] = kept_key[:n], kept_pos[:n]
            self._log_first, self._log_count = 0, n
        at = (self._log_first + self._log_count + np.arange(keys.size)) % cap
        self._log_key[at] = keys
        self._log_pos[at] = pos
        self._log_count += keys.size

    def _reset_table(self, slots: int) -> None:
        self.table = (np.full(slots, cachemap.EMPTY, np.int64), np.zeros((slots, cachemap.N_VALUES), np.int64))
        self._live = 0
        self._filled = 0      # live entries and tombstones

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
            self._reset_table(MIN_SLOTS)
            self._reset_log()
            self.head = 0

    @property
    def used_bytes(self) -> int:
        """Bytes of the ring that hold cached blocks."""
        return int(cachemap.live_bytes(*self.table))

    @property
    def entries(self) -> int:
        """Blocks the cache holds."""
        return self._live

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
        if self._ordered:
            tail_from = self.head if at < self.head else -1      # a wrap abandons the previous lap's tail
            with self.lock:
                n, self._log_first, self._log_count = cachemap.evict_log(
                    *self.table, self._log_key, self._log_pos, self._log_first, self._log_count, tail_from,
                    at, at + nbytes)
                self._live -= int(n)
        else:
            self.evict(at, at + nbytes)
        self._res_next, self._res_hi = at, at + nbytes
        self.head = at + nbytes
        return at

    def evict(self, lo: int, hi: int) -> int:
        """Forget every block whose bytes overlap ring range ``[lo, hi)``; returns how many."""
        with self.lock:
            n = int(cachemap.evict_range(*self.table, lo, hi))
            self._live -= n
        return n

    def register(self, state: FileCacheState, leaves: np.ndarray, pos: np.ndarray, length: np.ndarray,
                 flags: np.ndarray, until: np.ndarray) -> None:
        """Record that blocks ``leaves`` of ``state``'s file now lie in the ring at ``pos`` (int64 arrays
        of one length); an entry of the same block (a shorter, early-exit prefix) is replaced."""
        leaves, pos, length, flags, until = (np.ascontiguousarray(a, np.int64) for a in (leaves, pos, length, flags, until))
        with self.lock:
            room = self.max_entries - self._live
            if leaves.size > room:
                room = self._forget_oldest(leaves.size, pos)
                if leaves.size > room:   # the batch alone brings more entries than the table may hold
                    leaves, pos, length, flags, until = (a[a.size - room:] for a in (leaves, pos, length, flags, until))
            keys, _ = self.table
            if 2 * (self._filled + leaves.size) > keys.size:
                self._grow(self._live + leaves.size)
            added, reused = cachemap.insert(*self.table, state.uid, leaves, pos, length, flags, until)
            self._live += added
            self._filled += added - reused
            if self._ordered and pos.size:
                if pos[0] < self._res_next or pos[-1] >= self._res_hi or (pos.size > 1 and (np.diff(pos) <= 0).any()):
                    self._ordered = False       # not the pipeline's pattern: reservations scan the table
                else:
                    self._log_append((np.int64(state.uid) << 32) | leaves, pos)
                    self._res_next = int(pos[-1]) + 1

    @property
    def max_entries(self) -> int:
        """Most blocks the table may hold, so that its slots stay within ``capacity / TABLE_SHARE``: it
        grows to the power of two at or above 4 slots per entry, so up to 8 slots per entry."""
        return max(MIN_SLOTS // 4, self.capacity // TABLE_SHARE // (8 * SLOT_BYTES))

    def _forget_oldest(self, need: int, new_pos: np.ndarray) -> int:
        """Forget the oldest blocks (the ring's previous lap past the head, then this lap before the new
        blocks) until ``need`` more entries fit; returns the room made."""
        self.evict(self.head, self.capacity)
        room = self.max_entries - self._live
        if need > room and new_pos.size:
            self.evict(0, int(new_pos.min()))
            room = self.max_entries - self._live
        return max(room, 0)

    def lookup(self, state: FileCacheState, leaves: np.ndarray) -> tuple[np.ndarray, ...]:
        """(pos, length, flags, until) of blocks ``leaves`` of ``state``'s file: int64 arrays, pos -1
        where the block is not cached."""
        leaves = np.ascontiguousarray(leaves, np.int64)
        out = np.empty((cachemap.N_VALUES, leaves.size), np.int64)
        with self.lock:
            cachemap.lookup(*self.table, state.uid, leaves, out)
        return tuple(out)

    def _grow(self, live: int) -> None:
        slots = MIN_SLOTS
        while slots < 4 * live:
            slots *= 2
        old = self.table
        self._reset_table(slots)
        cachemap.rehash(*old, *self.table)
        self._live = self._filled = int(np.count_nonzero(old[0] >= 0))


cache = BlockCache()

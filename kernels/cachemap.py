"""Where each cached block lies in the block cache's ring: an open-addressing hash in flat arrays.

Host-only (no GPU twin).  The key of a block is ``uid << 32 | leaf`` (the file's number and the
block's row in its index); a slot holds the key and four int64 values: ring position, canonical
length, scan flags, and ``until`` (records starting before it are present).  The table is sized
by the blocks the cache holds, not by the blocks of the open files: 1,000 open genome-scale files
add nothing to it.  Linear probing; removed entries leave a tombstone (``GONE``) that lookups step
over and inserts reuse; the owner keeps the table at most half full (tombstones included), so every
probe ends at an empty slot.
"""

from __future__ import annotations

import numba
import numpy as np

EMPTY = -1
GONE = -2
POS, LENGTH, FLAGS, UNTIL = 0, 1, 2, 3
N_VALUES = 4


@numba.njit(inline="always")
def key_of(uid, leaf):
    return (np.int64(uid) << 32) | np.int64(leaf)


@numba.njit(inline="always")
def _home(key, mask):
    # Fibonacci hashing: keys of one file are consecutive leaves; the multiply spreads them
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64(h >> np.uint64(29)) & mask


@numba.njit(inline="always")
def find(keys, key):
    """Slot of ``key`` in ``keys`` (size a power of two), or -1."""
    mask = keys.size - 1
    i = _home(key, mask)
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@numba.njit(nogil=True, cache=True)
def insert(keys, vals, uid, leaves, pos, length, flags, until):
    """Insert or replace the entries of ``leaves`` of file ``uid``.

    Returns (added, reused): new keys, and tombstones they took (so the owner can track the fill).
    """
    mask = keys.size - 1
    added = 0
    reused = 0
    for j in range(leaves.size):
        key = key_of(uid, leaves[j])
        i = _home(key, mask)
        free = -1
        while True:
            k = keys[i]
            if k == key:
                free = i
                break
            if k == EMPTY:
                if free < 0:
                    free = i
                added += 1
                break
            if k == GONE and free < 0:
                free = i
            i = (i + 1) & mask
        if keys[free] == GONE:
            reused += 1
        keys[free] = key
        vals[free, POS] = pos[j]
        vals[free, LENGTH] = length[j]
        vals[free, FLAGS] = flags[j]
        vals[free, UNTIL] = until[j]
    return added, reused


@numba.njit(nogil=True, cache=True)
def lookup(keys, vals, uid, leaves, out):
    """``out[:, j]`` = (pos, length, flags, until) of leaf ``leaves[j]`` of file ``uid``; pos -1 if absent."""
    for j in range(leaves.size):
        i = find(keys, key_of(uid, leaves[j]))
        if i < 0:
            out[POS, j] = -1
            out[LENGTH, j] = 0
            out[FLAGS, j] = 0
            out[UNTIL, j] = 0
        else:
            for v in range(N_VALUES):
                out[v, j] = vals[i, v]


@numba.njit(nogil=True, cache=True)
def evict_range(keys, vals, lo, hi):
    """Remove every entry whose bytes overlap ring range ``[lo, hi)``; returns how many."""
    n = 0
    for i in range(keys.size):
        if keys[i] >= 0 and vals[i, POS] < hi and vals[i, POS] + vals[i, LENGTH] > lo:
            keys[i] = GONE
            n += 1
    return n


@numba.njit(nogil=True, cache=True)
def evict_log(keys, vals, log_key, log_pos, first, count, tail_from, lo, hi):
    """Forget the blocks that a reservation of ring range ``[lo, hi)`` overwrites, from the log of
    registrations (a circular queue of ``count`` records from ``first``, oldest first, in ring order).

    Records are taken from the front while they lie in ``[lo, hi)``, or, when ``tail_from >= 0`` (the
    head wrapped to 0), at or past ``tail_from``: the previous lap's tail, which the wrap abandons.  A
    record's entry is removed only if the table still holds that key at that position (the block may
    since have been forgotten, or cached again elsewhere).  Returns ``(removed, first, count)``.
    """
    cap = log_key.size
    removed = 0
    while count > 0:
        p = log_pos[first]
        if not ((tail_from >= 0 and p >= tail_from) or lo <= p < hi):
            break
        i = find(keys, log_key[first])
        if i >= 0 and vals[i, POS] == p:
            keys[i] = GONE
            removed += 1
        first += 1
        if first == cap:
            first = 0
        count -= 1
    return removed, first, count


@numba.njit(nogil=True, cache=True)
def compact_log(keys, vals, log_key, log_pos, first, count, out_key, out_pos):
    """Copy, oldest first, the log records whose entry the table still holds at that position into
    ``out_key``/``out_pos`` (from 0); returns how many.  (Records of forgotten or moved blocks go.)"""
    cap = log_key.size
    n = 0
    for j in range(count):
        r = first + j
        if r >= cap:
            r -= cap
        i = find(keys, log_key[r])
        if i >= 0 and vals[i, POS] == log_pos[r]:
            out_key[n] = log_key[r]
            out_pos[n] = log_pos[r]
            n += 1
    return n


@numba.njit(nogil=True, cache=True)
def rehash(keys, vals, new_keys, new_vals):
    """Move every live entry into the empty table ``new_keys``/``new_vals``."""
    mask = new_keys.size - 1
    for i in range(keys.size):
        key = keys[i]
        if key < 0:
            continue
        j = _home(key, mask)
        while new_keys[j] != EMPTY:
            j = (j + 1) & mask
        new_keys[j] = key
        for v in range(N_VALUES):
            new_vals[j, v] = vals[i, v]


@numba.njit(nogil=True, cache=True)
def live_bytes(keys, vals):
    """Sum of the lengths of the live entries."""
    total = 0
    for i in range(keys.size):
        if keys[i] >= 0:
            total += vals[i, LENGTH]
    return total

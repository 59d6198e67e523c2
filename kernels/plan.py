"""Which blocks a batch needs: the one overlap search of the block index, and the planner of a track.

Host-only (no GPU twin): this runs once per batch, before any kernel; :func:`plan_tracks` plans a run of
tracks in one call, each with :func:`plan_track`.

The index is the tuple ``fastwig.rtree.BlockIndex.arrays``::

    (chrom_id, chrom_ptr, start, end, cm, span_ls, span_le, span_cm, offset)

Blocks on one chromosome come first, sorted by (chromIx, start, offset): run r of ``chrom_id``
holds rows ``chrom_ptr[r]:chrom_ptr[r+1]``, with uint32 ``start``/``end`` bases and ``cm``, the
running maximum of ``end`` within the run (the same array as ``end`` where ends never decrease).
Rows from ``start.size`` on are blocks whose range crosses chromosomes, with int64 linear
coordinates ``chromIx * 2**32 + base`` (``span_ls``, ``span_le``, and the running maximum ``span_cm``).
A block overlaps window ``[s, e)`` of chromosome ``c`` when it starts before ``e`` and ends after
``s``; in each part the rows that can are one contiguous range, found by two binary searches
(blocks may overlap each other and be stored in any order: ``cm`` makes the first search exact).
"""

from __future__ import annotations

import numba
import numba.typed
import numpy as np

from .cachemap import FLAGS, LENGTH, POS, UNTIL, find, key_of

INT64_MAX = np.iinfo(np.int64).max
BASE_LIMIT = np.int64(1) << 32          # bases are uint32: a window end past it means "to the end"


@numba.njit(inline="always")
def _first_above(a, lo, hi, v):
    """First i in [lo, hi) with a[i] > v (a sorted), else hi."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if np.int64(a[mid]) > v:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(inline="always")
def _first_at_least(a, lo, hi, v):
    """First i in [lo, hi) with a[i] >= v (a sorted), else hi."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if np.int64(a[mid]) >= v:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(nogil=True, cache=True)
def window_rows(ix, chrom, s, e):
    """Candidate rows of windows ``[s[w], e[w])`` on chromosomes ``chrom[w]`` (s, e >= 0; chrom -1: none).

    Returns int64 (n, 4): per window (m0, m1, p0, p1), main rows ``m0:m1`` (those with ``end > s``
    overlap) and crossing rows ``p0:p1`` (those with ``span_le > (chrom << 32) + s`` overlap).
    One loop over all windows, the searches written out in it: helpers that take the arrays cost a
    reference count update per array and window, 2.5x the time of the searches on 256 windows.
    """
    chrom_id, chrom_ptr, start, end, cm, span_ls, span_le, span_cm, offset = ix
    n = chrom.size
    k = chrom_id.size
    rows = np.zeros((n, 4), np.int64)
    for w in range(n):
        c = chrom[w]
        lo = s[w]
        hi = e[w] if e[w] < BASE_LIMIT else BASE_LIMIT
        if c < 0 or lo >= hi:
            continue
        r = _first_at_least(chrom_id, 0, k, c)
        if r < k and chrom_id[r] == c:
            m0 = _first_above(cm, chrom_ptr[r], chrom_ptr[r + 1], lo)
            rows[w, 0] = m0
            rows[w, 1] = _first_at_least(start, m0, chrom_ptr[r + 1], hi)
        if span_ls.size:
            p0 = _first_above(span_cm, 0, span_cm.size, (c << 32) + lo)
            rows[w, 2] = p0
            rows[w, 3] = _first_at_least(span_ls, p0, span_ls.size, (c << 32) + hi)
    return rows


@numba.njit(inline="always")
def _sort_by_offset(blist, a, b, uniq, offset):
    """Insertion sort of ``blist[a:b]`` (positions in ``uniq``) by file offset: later blocks win."""
    for x in range(a + 1, b):
        v = blist[x]
        y = x - 1
        while y >= a and offset[uniq[blist[y]]] > offset[uniq[v]]:
            blist[y + 1] = blist[y]
            y -= 1
        blist[y + 1] = v


@numba.njit(nogil=True, cache=True)
def overlap_csr(ix, file_order, lo, hi):
    """Blocks overlapping each query ``[lo[i], hi[i])`` (linear coordinates, one chromosome each).

    Returns
    -------
    ptr : int64 (m + 1,), query i owns ``blocks[ptr[i]:ptr[i+1]]``
    blocks : int64, rows of the index, in file order within each query
    """
    end, span_le, offset = ix[3], ix[6], ix[8]
    n_main = end.size
    m = lo.size
    chrom = lo >> 32
    rows = window_rows(ix, chrom, lo - (chrom << 32), hi - (chrom << 32))
    ptr = np.zeros(m + 1, np.int64)
    blocks = np.empty(0, np.int64)
    for fill in (False, True):       # count, then fill
        j = 0
        for q in range(m):
            s = lo[q] - (chrom[q] << 32)
            for k in range(rows[q, 0], rows[q, 1]):
                if np.int64(end[k]) > s:
                    if fill:
                        blocks[j] = k
                    j += 1
            for k in range(rows[q, 2], rows[q, 3]):
                if span_le[k] > lo[q]:
                    if fill:
                        blocks[j] = n_main + k
                    j += 1
            ptr[q + 1] = j
        if not fill:
            blocks = np.empty(j, np.int64)
    if not file_order:
        for q in range(m):
            for x in range(ptr[q] + 1, ptr[q + 1]):
                v = blocks[x]
                y = x - 1
                while y >= ptr[q] and offset[blocks[y]] > offset[v]:
                    blocks[y + 1] = blocks[y]
                    y -= 1
                blocks[y + 1] = v
    return ptr, blocks


@numba.njit(nogil=True, cache=True)
def plan_track(ix, file_order, cids, starts, width, early_exit, ckeys, cvals, uid):
    """Blocks of one track for every window, deduplicated, with their cache entries.

    Parameters
    ----------
    ix : tuple of arrays, the track's ``fastwig.rtree.BlockIndex.arrays`` (read, never written)
    file_order : bool, offsets do not decrease in index order
    cids : int64 (n,), the track's chromId per window (-1: absent); starts : int64 (n,); width : int
    early_exit : bool, record for each block the furthest window end that needs it
    ckeys, cvals : the block cache's table (``kernels.cachemap``; read, never written); uid : the file's key

    Returns
    -------
    ptr : int64 (n+1,), window w reads ``uniq[blist[ptr[w]:ptr[w+1]]]``, in file order
    blist : int64, positions in ``uniq``
    uniq, stop : int64 (m,), needed blocks and the coordinate before which records are needed (-1: all)
    lo, length, flags : int64 (m,), cache position (-1: miss), length and scan flags of each
    """
    end, span_le, offset = ix[3], ix[6], ix[8]
    n_main = end.size
    n = cids.size
    lo_base = np.maximum(starts, 0)
    rows = window_rows(ix, cids, lo_base, np.maximum(starts + width, 0))
    ptr = np.zeros(n + 1, dtype=np.int64)
    for w in range(n):
        cnt = 0
        for k in range(rows[w, 0], rows[w, 1]):
            if np.int64(end[k]) > lo_base[w]:
                cnt += 1
        for k in range(rows[w, 2], rows[w, 3]):
            if span_le[k] > (cids[w] << 32) + lo_base[w]:
                cnt += 1
        ptr[w + 1] = ptr[w] + cnt
    total = ptr[n]
    blist = np.empty(total, dtype=np.int64)
    uniq = np.empty(total, dtype=np.int64)
    stop = np.empty(total, dtype=np.int64)
    # dedup scratch of this call (sized by the batch, not by the file): leaf -> position in uniq
    hsize = 16
    while hsize < 2 * total:
        hsize *= 2
    hmask = hsize - 1
    hkey = np.full(hsize, -1, dtype=np.int64)
    hval = np.empty(hsize, dtype=np.int64)
    nu = 0
    j = 0
    for w in range(n):
        if ptr[w + 1] == ptr[w]:
            continue
        c = cids[w]
        s = starts[w] if starts[w] > 0 else 0
        e = starts[w] + width
        for part in range(2):
            a = rows[w, 2 * part]
            b = rows[w, 2 * part + 1]
            for r in range(a, b):
                if part == 0:
                    if np.int64(end[r]) <= s:
                        continue
                    k = r
                else:
                    if span_le[r] <= (c << 32) + s:
                        continue
                    k = n_main + r
                h = (k * 0x9E3779B1) & hmask
                while hkey[h] >= 0 and hkey[h] != k:
                    h = (h + 1) & hmask
                if hkey[h] < 0:
                    u = nu
                    hkey[h] = k
                    hval[h] = u
                    uniq[u] = k
                    # early exit only inside one chromosome (a crossing block is read whole), and only
                    # where a record may start at or past e (else the inflater's checks find nothing)
                    stop[u] = e if (early_exit and part == 0 and e < np.int64(end[k])) else -1
                    nu += 1
                else:
                    u = hval[h]
                    if stop[u] >= 0 and stop[u] < e:
                        stop[u] = e if e < np.int64(end[k]) else -1
                blist[j] = u
                j += 1
        if not file_order:
            _sort_by_offset(blist, ptr[w], ptr[w + 1], uniq, offset)
    lo = np.full(nu, -1, dtype=np.int64)
    length = np.zeros(nu, dtype=np.int64)
    flags = np.zeros(nu, dtype=np.int64)
    for i in range(nu):
        need = stop[i] if stop[i] >= 0 else INT64_MAX
        slot = find(ckeys, key_of(uid, uniq[i]))
        if slot >= 0 and cvals[slot, UNTIL] >= need:
            lo[i] = cvals[slot, POS]
            length[i] = cvals[slot, LENGTH]
            flags[i] = cvals[slot, FLAGS]
    return ptr, blist, uniq[:nu].copy(), stop[:nu].copy(), lo, length, flags


@numba.njit(nogil=True, cache=True)
def plan_tracks(indexes, file_orders, uids, cids_by_track, starts, width, early_exit, ckeys, cvals, t0, t1):
    """:func:`plan_track` for tracks ``t0 .. t1 - 1`` in one call, their results laid end to end.

    One call instead of one per track: a call from Python costs about 3.6 us in argument unboxing and
    result boxing, as much as planning a track of 256 windows, and the results need no concatenation
    in Python afterwards.

    Parameters
    ----------
    indexes : numba typed List of every track's ``BlockIndex.arrays``
    file_orders : bool (n_tracks,); uids : int64 (n_tracks,), each file's cache key
    cids_by_track : int64 (n_tracks, n), each track's chromId per window
    starts, width, early_exit, ckeys, cvals : as for :func:`plan_track`

    Returns
    -------
    bptr : int64 ((t1 - t0) * n + 1,), item ``(t - t0) * n + w`` reads blocks ``blist[bptr[i]:bptr[i+1]]``
    blist : int64, positions in the block arrays below (of this call)
    track, leaf, stop, lo, length, flags : int64 (m,), the needed blocks of each track in turn: the
        track number, the leaf in its index, and :func:`plan_track`'s ``stop``, ``lo``, ``length``, ``flags``
    """
    n = starts.size
    parts = [plan_track(indexes[t], file_orders[t], cids_by_track[t], starts, width, early_exit, ckeys, cvals,
                        uids[t]) for t in range(t0, t1)]
    n_refs = 0
    n_blocks = 0
    for part in parts:
        n_refs += part[1].size
        n_blocks += part[2].size
    bptr = np.zeros((t1 - t0) * n + 1, np.int64)
    blist = np.empty(n_refs, np.int64)
    track = np.empty(n_blocks, np.int64)
    fields = np.empty((5, n_blocks), np.int64)      # leaf, stop, lo, length, flags
    r0 = 0
    m0 = 0
    for k in range(t1 - t0):
        ptr, bl, uniq, stop, lo, length, flags = parts[k]
        for w in range(n):
            bptr[k * n + w + 1] = r0 + ptr[w + 1]
        for x in range(bl.size):
            blist[r0 + x] = m0 + bl[x]
        for x in range(uniq.size):
            track[m0 + x] = t0 + k
            fields[0, m0 + x] = uniq[x]
            fields[1, m0 + x] = stop[x]
            fields[2, m0 + x] = lo[x]
            fields[3, m0 + x] = length[x]
            fields[4, m0 + x] = flags[x]
        r0 += bl.size
        m0 += uniq.size
    return bptr, blist, track, fields[0], fields[1], fields[2], fields[3], fields[4]


# The typed list that plan_tracks reads is built by these compiled (and cached) functions, not by
# numba.typed.List's methods from Python, which compile on first use in every process (0.23 s).  They
# name it through the module: ``from numba.typed import List`` would load numba's list implementation
# at ``import fastwig`` (5 ms), where the first batch over many tracks loads it anyway.
@numba.njit(cache=True)
def index_list(arrays):
    """A new numba typed List holding one track's ``BlockIndex.arrays``."""
    indexes = numba.typed.List()
    indexes.append(arrays)
    return indexes


@numba.njit(cache=True)
def index_list_append(indexes, arrays):
    """Append a track's ``BlockIndex.arrays`` to a list from :func:`index_list` (same numba type)."""
    indexes.append(arrays)
